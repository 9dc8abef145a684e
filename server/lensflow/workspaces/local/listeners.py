"""The sockets that would take a TCP connection to 127.0.0.1:<port>: their inodes.

Those listening on 127.0.0.1 or on a wildcard address, IPv4 or IPv6 (a dual-stack socket on
`::` takes IPv4 connections too). Asked of the kernel over netlink (sock_diag), which walks
only the listening sockets: a fraction of a millisecond. /proc/net/tcp{,6} says the same, but
reading it walks every connection's hash bucket (about 6 ms each here): the fallback, for a
kernel without sock_diag. Linux only, standard library only.
"""

from __future__ import annotations

import socket
import struct
import sys
from pathlib import Path

_SOCK_DIAG, _BY_FAMILY = 4, 20  # NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY
_REQUEST_DUMP = 0x1 | 0x300  # NLM_F_REQUEST | NLM_F_DUMP
_DONE, _ERROR = 3, 2  # NLMSG_DONE, NLMSG_ERROR
_LISTEN = 10  # TCP_LISTEN
_HEADER = struct.Struct("=IHHII")  # struct nlmsghdr
_ADDRESSES: dict[int, tuple[str, str]] = {
    socket.AF_INET: ("127.0.0.1", "0.0.0.0"),
    socket.AF_INET6: ("::", "::ffff:127.0.0.1"),
}


def listening(port: int) -> set[int]:
    """Inodes of the sockets listening where a connection to 127.0.0.1:port would land."""
    try:
        return {inode for family in _ADDRESSES for inode in _diag(family, port)}
    except OSError:
        return _from_proc(port)


def _diag(family: int, port: int) -> set[int]:
    wanted = {socket.inet_pton(family, a) for a in _ADDRESSES[family]}
    # struct inet_diag_req_v2: family, protocol, extensions, pad, states; then a zero sockid
    # (a dump's sockid filters nothing: the answers are filtered here).
    request = struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, 1 << _LISTEN) + bytes(48)
    header = _HEADER.pack(_HEADER.size + len(request), _BY_FAMILY, _REQUEST_DUMP, 1, 0)
    found: set[int] = set()
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _SOCK_DIAG) as sock:
        sock.settimeout(2.0)
        sock.sendall(header + request)
        while True:
            data, offset = sock.recv(1 << 16), 0
            if not data:
                return found
            while offset + _HEADER.size <= len(data):
                length, kind = _HEADER.unpack_from(data, offset)[:2]
                if kind == _DONE:
                    return found
                if kind == _ERROR:
                    errno = -struct.unpack_from("=i", data, offset + _HEADER.size)[0]
                    raise OSError(errno, "sock_diag refused the request")
                # struct inet_diag_msg: 4 bytes, sockid (sport, dport, src[16], …), …, inode
                body = data[offset + _HEADER.size : offset + length]
                sport = struct.unpack_from("!H", body, 4)[0]
                source = body[8 : 8 + (4 if family == socket.AF_INET else 16)]
                if sport == port and source in wanted:
                    found.add(struct.unpack_from("=I", body, 68)[0])
                offset += (length + 3) & ~3  # NLMSG_ALIGN


def _hex_address(family: int, address: str, port: int) -> str:
    # /proc writes an address as 32-bit words in the machine's byte order, then the port.
    packed = socket.inet_pton(family, address)
    words = (int.from_bytes(packed[i : i + 4], sys.byteorder) for i in range(0, len(packed), 4))
    return "".join(f"{word:08X}" for word in words) + f":{port:04X}"


def _from_proc(port: int) -> set[int]:
    inodes = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        wanted = {_hex_address(family, a, port) for a in _ADDRESSES[family]}
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:  # no IPv6 in this kernel
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == f"{_LISTEN:02X}" and fields[1] in wanted:
                inodes.add(int(fields[9]))
    return inodes
