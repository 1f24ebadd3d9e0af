"""MikuMikuDance motion export: skeletons -> 3D joints -> bone rotations -> a VMD file.

Uses ``edn.core`` and prepared sets (``edn.preparation``, ``pose_detector``) only, nothing of
the synthesis stack. All geometry is in MMD coordinates: left-handed, Y up, the model faces
-Z, the model's left is +X, about 8 cm per unit; motions are written at 30 frames per second.
"""
