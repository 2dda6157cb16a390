"""TEST-ONLY stand-in for ``torchvision.ops`` (box NMS and areas only)."""

from .boxes import batched_nms, box_area, box_iou, nms

__all__ = ["batched_nms", "box_area", "box_iou", "nms"]
