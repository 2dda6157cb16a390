"""TEST-ONLY stand-in for ``torchvision.ops.boxes``: never shipped, never used with torchvision.

Boxes are ``(N, 4)`` ``x1, y1, x2, y2`` tensors with ``0 <= x1 <= x2`` and
``0 <= y1 <= y2``, as in torchvision. Areas are ``(x2 - x1) * (y2 - y1)`` (no +1).
Greedy NMS keeps the highest-scoring box and drops every remaining box whose IoU with
it is *strictly greater* than the threshold, as torchvision's kernels do (an IoU of
0/0, two zero-area boxes, is NaN and suppresses nothing, as there). Equal scores are
taken in index order (torchvision leaves that order unspecified).
"""

from __future__ import annotations

import torch
from torch import Tensor


def box_area(boxes: Tensor) -> Tensor:
    """Area of each ``x1, y1, x2, y2`` box, shape ``(N,)``."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Pairwise IoU ``(N, M)`` of two sets of boxes."""
    area1 = box_area(boxes1)
    area2 = box_area(boxes2)
    top_left = torch.max(boxes1[:, None, :2], boxes2[None, :, :2])
    bottom_right = torch.min(boxes1[:, None, 2:], boxes2[None, :, 2:])
    size = (bottom_right - top_left).clamp(min=0)
    inter = size[..., 0] * size[..., 1]
    return inter / (area1[:, None] + area2[None, :] - inter)


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Greedy NMS; int64 indices of the kept boxes by decreasing score."""
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.int64, device=boxes.device)
    order = torch.argsort(scores, descending=True, stable=True)
    iou = box_iou(boxes[order].float(), boxes[order].float())
    suppressed = torch.zeros(len(order), dtype=torch.bool, device=boxes.device)
    kept = []
    for rank in range(len(order)):
        if suppressed[rank]:
            continue
        kept.append(rank)
        suppressed |= iou[rank] > iou_threshold
    return order[torch.as_tensor(kept, dtype=torch.int64, device=boxes.device)]


def batched_nms(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float) -> Tensor:
    """NMS within each category ``idxs``; int64 kept indices by decreasing score."""
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.int64, device=boxes.device)
    kept = []
    for category in torch.unique(idxs):
        members = torch.nonzero(idxs == category).flatten()
        kept.append(members[nms(boxes[members], scores[members], iou_threshold)])
    keep = torch.cat(kept)
    return keep[torch.argsort(scores[keep], descending=True, stable=True)]
