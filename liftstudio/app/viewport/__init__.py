"""The 3D viewport: OpenGL splat renderer, depth sort, camera controls, render settings."""
