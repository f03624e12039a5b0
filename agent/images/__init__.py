"""Container images for the node agent: parse references, pull from OCI/Docker registries,
keep a content-addressed store, unpack layers for overlayfs, import OCI archives.

The runtime consumes `ImageStore.ensure(ref, policy) -> Image` and mounts
`Image.lowerdirs` as overlayfs lower layers.
"""

from .reference import InvalidReference, Reference, parse_reference
from .registry import RegistryClient, RegistryError
from .store import Image, ImageConfig, ImageError, ImageStore

__all__ = [
    "Image", "ImageConfig", "ImageError", "ImageStore", "InvalidReference", "Reference",
    "RegistryClient", "RegistryError", "parse_reference",
]
