"""MIMIC-CXR data: the real layout (mimic), the synthetic demo tree (synthetic), report parsing
(reports), split selection with accounting (splits) and image preparation (images)."""
