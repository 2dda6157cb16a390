"""Gaussians, cameras and images of a trained scene: the model, its file formats, discovery."""
