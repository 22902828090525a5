"""Packet captures (classic pcap and pcapng) -> one ``Egress`` per outbound flow.

Pure Python, streamed packet by packet. Link types: Ethernet (with VLAN tags), raw IP,
Linux cooked (SLL, SLL2) and BSD loopback. A TCP flow's client is the side that sent the
SYN (else the side with the higher port); a UDP flow's client is the side with the higher
port. Each flow's host is named, in order, by the TLS ClientHello's SNI, the HTTP ``Host``
header, or a DNS answer seen earlier in the capture for the server's address, else its IP.
``bytes_sent`` counts the client's payload bytes; ``tls`` is true when a ClientHello was seen
(or the port is 443/8443/853). Payloads are not analysed: pcap flows carry no data
categories (give a HAR from a TLS-intercepting proxy for that). DNS, mDNS, DHCP, NTP and
SSDP flows are not counted as egress. ``ref`` is ``pcap:<file>#<flow number>``.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from bystander.inspect.importers.common import MAX_STREAM_BYTES, BundleError, open_binary
from bystander.inspect.records import Egress
from bystander.inspect.traffic import CountryResolver

_PCAP_MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
_PCAPNG = b"\x0a\x0d\x0d\x0a"
_MAX_PACKET = 1 << 20
_SERVICE_PORTS = frozenset({53, 5353, 67, 68, 123, 1900, 5355, 137, 138})
_TLS_PORTS = frozenset({443, 8443, 853})
_METHODS = (b"GET ", b"POST ", b"PUT ", b"PATCH ", b"DELETE ", b"HEAD ", b"OPTIONS ")


@dataclass
class _Flow:
    client: tuple[str, int]
    server: tuple[str, int]
    proto: str
    t: float
    packets: int = 0
    sent: int = 0
    sni: str | None = None
    http_host: str | None = None
    tls: bool = False


def load_pcap(path: Path, name: str, countries: CountryResolver) -> tuple[list[Egress], list[str]]:
    """The outbound flows of one capture file, and notes (skipped packets)."""
    flows: dict[tuple[object, ...], _Flow] = {}
    dns: dict[str, str] = {}
    undecoded = 0
    with open_binary(path, name, MAX_STREAM_BYTES) as stream:
        for t, link, frame in _packets(stream, name):
            parsed = _ip(link, frame)
            if parsed is None:
                undecoded += 1
                continue
            _packet(t, *parsed, flows, dns)
    out: list[Egress] = []
    for number, flow in enumerate(sorted(flows.values(), key=lambda f: f.t)):
        if flow.server[1] in _SERVICE_PORTS or flow.client[1] in _SERVICE_PORTS:
            continue
        ip = flow.server[0]
        host = (flow.sni or flow.http_host or dns.get(ip) or ip).lower()
        ref = f"pcap:{name}#{number}"
        out.append(
            Egress(
                ref=ref,
                t=flow.t,
                host=host,
                country=countries.country(host) if host != ip else countries.country(ip),
                ip=ip,
                bytes_sent=flow.sent,
                tls=flow.tls or flow.server[1] in _TLS_PORTS,
                findings=(f"{flow.proto}/{flow.server[1]} flow, {flow.packets} packets",),
                request_id=ref,
            )
        )
    notes = [f"{name}: {undecoded} packets not IPv4/IPv6 (skipped)"] if undecoded else []
    return out, notes


# -- file formats ---------------------------------------------------------------------------


def _packets(stream: IO[bytes], name: str) -> Iterator[tuple[float, int, bytes]]:
    magic = stream.read(4)
    if magic in _PCAP_MAGIC:
        yield from _classic(stream, name, *_PCAP_MAGIC[magic])
    elif magic == _PCAPNG:
        yield from _pcapng(stream, name, magic)
    else:
        raise BundleError(f"{name}: not a pcap or pcapng file (unknown magic {magic.hex()})")


def _classic(
    stream: IO[bytes], name: str, order: str, unit: float
) -> Iterator[tuple[float, int, bytes]]:
    header = stream.read(20)
    if len(header) < 20:
        raise BundleError(f"{name}: truncated pcap header")
    link = struct.unpack(order + "HHiIII", header)[5] & 0x0FFFFFFF
    record = struct.Struct(order + "IIII")
    number = 0
    while True:
        head = stream.read(16)
        if not head:
            return
        number += 1
        if len(head) < 16:
            raise BundleError(f"{name}: packet {number}: truncated record header")
        sec, frac, caplen, _ = record.unpack(head)
        if caplen > _MAX_PACKET:
            raise BundleError(f"{name}: packet {number}: {caplen} bytes is not a packet")
        data = stream.read(caplen)
        if len(data) < caplen:
            raise BundleError(f"{name}: packet {number}: truncated (file ends early)")
        yield sec + frac * unit, link, data


def _pcapng(stream: IO[bytes], name: str, first: bytes) -> Iterator[tuple[float, int, bytes]]:
    order = "<"
    links: list[tuple[int, float]] = []
    head = first + stream.read(4)
    number = 0
    while head:
        number += 1
        where = f"{name}: block {number}"
        if len(head) < 8:
            raise BundleError(f"{where}: truncated (file ends early)")
        if head[:4] == _PCAPNG:
            bom = stream.read(4)
            if bom not in (b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d"):
                raise BundleError(f"{where}: bad byte-order magic")
            order = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            links = []
        length = struct.unpack(order + "I", head[4:8])[0]
        if length < 12 or length % 4 or length > _MAX_PACKET + 1024:
            raise BundleError(f"{where}: bad block length {length}")
        rest = stream.read(length - (12 if head[:4] == _PCAPNG else 8))
        body = (bom + rest if head[:4] == _PCAPNG else rest)[:-4]
        if len(body) != length - 12:
            raise BundleError(f"{where}: truncated (file ends early)")
        btype = struct.unpack(order + "I", head[:4])[0]
        if btype == 1 and len(body) >= 8:  # interface description
            link = struct.unpack(order + "H", body[:2])[0]
            links.append((link, _ts_unit(body[8:], order)))
        elif btype == 6 and len(body) >= 20:  # enhanced packet
            iface, hi, lo, caplen = struct.unpack(order + "IIII", body[:16])
            if iface < len(links):
                link, unit = links[iface]
                yield ((hi << 32) | lo) * unit, link, body[20 : 20 + caplen]
        elif btype == 3 and links and len(body) >= 4:  # simple packet
            yield 0.0, links[0][0], body[4:]
        head = stream.read(8)


def _ts_unit(options: bytes, order: str) -> float:
    """The interface's timestamp unit from its ``if_tsresol`` option (default microseconds)."""
    pos = 0
    while pos + 4 <= len(options):
        code, size = struct.unpack(order + "HH", options[pos : pos + 4])
        if code == 0:
            break
        if code == 9 and size >= 1:
            value = options[pos + 4]
            return 2.0 ** -(value & 0x7F) if value & 0x80 else 10.0**-value
        pos += 4 + (size + 3) // 4 * 4
    return 1e-6


# -- protocols ------------------------------------------------------------------------------


def _ip(link: int, frame: bytes) -> tuple[str, str, int, bytes] | None:
    """(source, destination, protocol number, IP payload) of a frame, or None."""
    if link == 1:  # Ethernet
        etype, offset = struct.unpack(">H", frame[12:14])[0] if len(frame) >= 14 else 0, 14
        while etype in (0x8100, 0x88A8) and len(frame) >= offset + 4:
            etype = struct.unpack(">H", frame[offset + 2 : offset + 4])[0]
            offset += 4
        packet = frame[offset:]
    elif link in (101, 228, 229, 12, 14):  # raw IP
        packet = frame
    elif link == 113:  # Linux SLL
        packet = frame[16:]
    elif link == 276:  # Linux SLL2
        packet = frame[20:]
    elif link == 0:  # BSD loopback
        packet = frame[4:]
    else:
        return None
    if len(packet) >= 20 and packet[0] >> 4 == 4:
        ihl = (packet[0] & 0x0F) * 4
        total = struct.unpack(">H", packet[2:4])[0] or len(packet)
        src, dst = (
            str(ipaddress.IPv4Address(packet[12:16])),
            str(ipaddress.IPv4Address(packet[16:20])),
        )
        return src, dst, packet[9], packet[ihl:total]
    if len(packet) >= 40 and packet[0] >> 4 == 6:
        src, dst = (
            str(ipaddress.IPv6Address(packet[8:24])),
            str(ipaddress.IPv6Address(packet[24:40])),
        )
        return src, dst, packet[6], packet[40 : 40 + struct.unpack(">H", packet[4:6])[0]]
    return None


def _packet(
    t: float, src: str, dst: str, proto: int, data: bytes,
    flows: dict[tuple[object, ...], _Flow], dns: dict[str, str],
) -> None:  # fmt: skip
    if proto == 6 and len(data) >= 20:
        sport, dport = struct.unpack(">HH", data[:4])
        flags = data[13]
        payload = data[(data[12] >> 4) * 4 :]
        name = "tcp"
    elif proto == 17 and len(data) >= 8:
        sport, dport = struct.unpack(">HH", data[:4])
        flags = 0
        payload = data[8:]
        name = "udp"
        if sport in (53, 5353):
            _dns_answers(payload, dns)
    else:
        return
    a, b = (src, sport), (dst, dport)
    key = (name, *sorted((a, b)))
    flow = flows.get(key)
    if flow is None:
        syn_only = name == "tcp" and flags & 0x12 == 0x02
        client, server = (a, b) if syn_only or sport > dport else (b, a)
        flow = flows[key] = _Flow(client, server, name, t)
    flow.packets += 1
    if (src, sport) != flow.client or not payload:
        return
    flow.sent += len(payload)
    if flow.sni is None and payload[:1] == b"\x16" and payload[5:6] == b"\x01":
        flow.tls = True
        flow.sni = _sni(payload)
    elif flow.http_host is None and payload.startswith(_METHODS):
        for line in payload[:4096].split(b"\r\n")[1:]:
            if line.lower().startswith(b"host:"):
                flow.http_host = line[5:].strip().decode("latin-1").split(":")[0] or None
                break


def _sni(record: bytes) -> str | None:
    """The server name of a TLS ClientHello record, if present and whole."""
    try:
        pos = 9 + 2 + 32  # record header, handshake header, version, random
        pos += 1 + record[pos]  # session id
        pos += 2 + struct.unpack(">H", record[pos : pos + 2])[0]  # cipher suites
        pos += 1 + record[pos]  # compression methods
        end = pos + 2 + struct.unpack(">H", record[pos : pos + 2])[0]
        pos += 2
        while pos + 4 <= min(end, len(record)):
            etype, size = struct.unpack(">HH", record[pos : pos + 4])
            if etype == 0:
                name_len = struct.unpack(">H", record[pos + 7 : pos + 9])[0]
                return record[pos + 9 : pos + 9 + name_len].decode("ascii")
            pos += 4 + size
    except (IndexError, struct.error, UnicodeDecodeError):
        return None
    return None


def _dns_answers(msg: bytes, dns: dict[str, str]) -> None:
    """Record A/AAAA answers of a DNS response: address -> queried name."""
    try:
        if len(msg) < 12 or not msg[2] & 0x80:
            return
        qd, an = struct.unpack(">HH", msg[4:8])
        pos = 12
        qname = ""
        for _ in range(qd):
            qname, pos = _name(msg, pos)
            pos += 4
        for _ in range(an):
            _, pos = _name(msg, pos)
            rtype, _, _, size = struct.unpack(">HHIH", msg[pos : pos + 10])
            pos += 10
            rdata = msg[pos : pos + size]
            pos += size
            if rtype == 1 and size == 4:
                dns.setdefault(str(ipaddress.IPv4Address(rdata)), qname)
            elif rtype == 28 and size == 16:
                dns.setdefault(str(ipaddress.IPv6Address(rdata)), qname)
    except (IndexError, struct.error, ValueError):
        return


def _name(msg: bytes, pos: int) -> tuple[str, int]:
    labels: list[str] = []
    end = -1
    for _ in range(128):
        size = msg[pos]
        if size == 0:
            pos += 1
            break
        if size & 0xC0 == 0xC0:
            if end < 0:
                end = pos + 2
            pos = struct.unpack(">H", msg[pos : pos + 2])[0] & 0x3FFF
            continue
        labels.append(msg[pos + 1 : pos + 1 + size].decode("latin-1"))
        pos += 1 + size
    return ".".join(labels), end if end >= 0 else pos
