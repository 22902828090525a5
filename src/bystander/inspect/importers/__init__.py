"""Importers: one module per evidence source, each turning files into typed records.

``audit`` (Bystander audit exports, verified first), ``device_log`` (JSON Lines of typed
records), ``profile`` (the device profile), ``documents`` (notices, PIA...), ``har`` (HAR 1.2
traffic), ``pcap`` (pcap/pcapng flows), ``billing`` (JSON or CSV). ``bystander.inspect.bundle``
ties them together from a bundle's manifest.
"""

from bystander.inspect.importers.common import BundleError

__all__ = ["BundleError"]
