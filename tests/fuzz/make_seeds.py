#!/usr/bin/env python3
"""Writes the seed corpora under tests/fuzz/corpus/<target>/: small inputs,
laid out by hand in each target's input format (see the comment at the top
of tests/fuzz/<target>.cpp), that reach the paths worth fuzzing from: the
register dances Linux does with the legacy devices, overlapping partial
writes on the overlay, a bzImage with a real header and ELF kernels with a
PVH note, valid configs and API requests.

    tests/fuzz/make_seeds.py [BZIMAGE]

BZIMAGE (default: the cached guest kernel, scripts/build-guest-kernel) gives
the kernel seed its real boot sector and setup header; without one that seed
is left as it is. The seeds are committed: run this only to change them.
"""

import os
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def write(target, name, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(bytes(data))


def u16(v):
    return struct.pack("<H", v)


def u32(v):
    return struct.pack("<I", v)


# ---- legacy_devices_fuzz ------------------------------------------------------

WIDTH = {1: 0, 2: 2, 4: 3}  # op bits 4-5


def out(port, value, width=1):
    return bytes([0x00 | WIDTH[width] << 4, 0xFF]) + u16(port) + value.to_bytes(width, "little")


def inp(port, width=1):
    return bytes([0x01 | WIDTH[width] << 4, 0xFF]) + u16(port)


def rep_out(port, data, width=1):
    count = len(data) // width
    return bytes([0x02 | WIDTH[width] << 4, 0xFF]) + u16(port) + bytes([count - 1]) + data


def rep_in(port, count, width=1):
    return bytes([0x03 | WIDTH[width] << 4, 0xFF]) + u16(port) + bytes([count - 1])


RESET, CTRL_ALT_DEL, POWER_BUTTON = b"\x04", b"\x06", b"\x07"
DRAIN_SERIAL, DRAIN_I8042, CHECK_RTC = b"\x08", b"\x09", b"\x0a"


def console(data):
    return b"\x05" + bytes([len(data)]) + data


def clock(seconds):
    return b"\x0b" + u32(seconds)


def legacy_seeds():
    com = 0x3F8
    # Linux's 8250 probe and set-up, then output, input and interrupts.
    serial = b"".join([
        inp(com + 3), out(com + 3, 0x00), out(com + 1, 0x00), inp(com + 1),
        out(com + 7, 0xA5), inp(com + 7), out(com + 7, 0x5A), inp(com + 7),
        inp(com + 4), out(com + 4, 0x10), inp(com + 6), out(com + 4, 0x1F), inp(com + 6),
        out(com + 4, 0x00), out(com + 3, 0x80), out(com + 0, 0x01), out(com + 1, 0x00),
        inp(com + 0), out(com + 3, 0x03), out(com + 2, 0x07), inp(com + 2),
        out(com + 4, 0x0B), out(com + 1, 0x0F), inp(com + 2), inp(com + 5),
        out(com + 0, ord("o")), out(com + 0, ord("k")), inp(com + 2),
        console(b"root\n"), inp(com + 2), inp(com + 5), inp(com + 0), inp(com + 0),
        out(com + 4, 0x1B), rep_out(com, b"loop" * 16), inp(com + 5), DRAIN_SERIAL,
        inp(com + 6), inp(com + 2),
    ])
    write("legacy_devices_fuzz", "serial-8250-probe", serial)

    # Linux's i8042 probe, the keyboard's reset and identify, then the resets.
    kbd = b"".join([
        inp(0x64), out(0x64, 0xAA), inp(0x64), inp(0x60),
        out(0x64, 0x20), inp(0x60), out(0x64, 0x60), out(0x60, 0x47),
        out(0x64, 0xA9), inp(0x60), out(0x64, 0xA8), out(0x64, 0xAB), inp(0x60),
        out(0x60, 0xFF), inp(0x60), inp(0x60), out(0x60, 0xF2), rep_in(0x60, 3),
        out(0x60, 0xF0), out(0x60, 0x00), inp(0x60), inp(0x60),
        out(0x60, 0xF0), out(0x60, 0x03), inp(0x60), out(0x60, 0xED), out(0x60, 0x07),
        out(0x60, 0xF4), CTRL_ALT_DEL, inp(0x64), DRAIN_I8042,
        out(0x64, 0xD2), out(0x60, 0x1C), out(0x64, 0xD0), DRAIN_I8042,
        out(0x64, 0xD1), out(0x60, 0xFE), RESET, out(0x64, 0xFE), RESET,
    ])
    write("legacy_devices_fuzz", "i8042-probe-and-reset", kbd)

    def cmos_read(index):
        return out(0x70, index) + inp(0x71)

    def cmos_write(index, value):
        return out(0x70, index) + out(0x71, value)

    rtc = b"".join([
        cmos_read(0x0A), cmos_read(0x0B),
        *[cmos_read(i) for i in (0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32)],
        cmos_write(0x0B, 0x82), cmos_write(0x00, 0x59), cmos_write(0x02, 0x59),
        cmos_write(0x04, 0x23), cmos_write(0x07, 0x31), cmos_write(0x08, 0x12),
        cmos_write(0x09, 0x99), cmos_write(0x32, 0x20), cmos_write(0x0B, 0x02),
        clock(1), CHECK_RTC, cmos_write(0x0B, 0x06), cmos_read(0x04), CHECK_RTC,
        cmos_write(0x0B, 0x00), cmos_read(0x04), cmos_write(0x04, 0x92), CHECK_RTC,
        cmos_write(0x08, 0x13), cmos_write(0x40, 0xAB), cmos_read(0x40),
        clock(86400 * 400), RESET, CHECK_RTC,
    ])
    write("legacy_devices_fuzz", "rtc-read-set-modes", rtc)

    acpi = b"".join([
        POWER_BUTTON, inp(0x604, 4), POWER_BUTTON, inp(0x604), inp(0x605, 2),
        out(0x600, 0x24), inp(0x601), out(0x601, 0x80), inp(0x601),
        out(0x602, 0x00), out(0x602, 0x01), RESET, out(0x600, 0x34),
        inp(0x600, 4), out(0x604, 0x1, 4), inp(0x606, 2),
    ])
    write("legacy_devices_fuzz", "acpi-ged-sleep-reset", acpi)

    misc = b"".join([
        inp(0x505), out(0x505, 0x02), out(0x505, 0x01), out(0x402, 0x10),
        rep_out(0x402, b"\x20\x30\x40\x50"), out(0x402, 0x1234, 2), inp(0x402),
        inp(0x3F8, 2), inp(0x3FF, 4), out(0x3FE, 0xFFFF, 2), inp(0xCF8, 4),
        out(0xCF9, 0x06), out(0x80, 0x01), inp(0x61), inp(0x5FF, 2), RESET,
    ])
    write("legacy_devices_fuzz", "pvpanic-progress-unmapped", misc)


# ---- overlay_disk_fuzz --------------------------------------------------------

READ, WRITE, DISCARD, WRITE_ZEROES, FLUSH, SETTLE = 0, 1, 2, 3, 4, 5
ALIGNED, MAY_UNMAP = 0x08, 0x10


def op(kind, offset=0, length=0, flags=0, seed=None, cuts=()):
    if kind == SETTLE:
        return bytes([SETTLE])
    if offset > 0xFFFF:
        flags, offset = flags | 0x80, offset - 0x10000
    b = bytes([kind | flags | (len(cuts) << 5)]) + u16(offset) + u16(length)
    if kind == WRITE:
        b += bytes([seed if seed is not None else 0x41])
    for c in cuts:
        b += u16(c)
    return b


def overlay_seeds():
    # Whole clusters, partial writes, zeros and discards, reads across them.
    basic = b"\x00" + b"".join([
        op(WRITE, 8, 8, ALIGNED, 0x11), op(READ, 0, 24, ALIGNED, cuts=(700,)),
        op(SETTLE),
        op(WRITE, 9 * 512 + 100, 3000, 0, 0x22, cuts=(1000, 7)), op(SETTLE),
        op(READ, 8 * 512, 12000, 0, cuts=(4096, 1)),
        op(DISCARD, 16, 12, ALIGNED), op(WRITE_ZEROES, 3 * 512 + 17, 9000, MAY_UNMAP),
        op(FLUSH), op(SETTLE), op(READ, 0, 40, ALIGNED),
        op(WRITE, 130, 4, ALIGNED, 0x33), op(READ, 0, 65535, 0),
    ])
    write("overlay_disk_fuzz", "write-read-zero-discard", basic)
    # Two partial writes to the halves of one cluster in flight together,
    # then a fill from a zeroed cluster.
    halves = b"\x00" + b"".join([
        op(WRITE, 0, 2, ALIGNED, 0x55), op(WRITE, 2, 6, ALIGNED, 0x66, cuts=(512, 512)),
        op(WRITE, 4 * 512 + 10, 100, 0, 0x77), op(READ, 4 * 512 + 200, 3000, 0),
        op(SETTLE), op(READ, 0, 16, ALIGNED),
        op(DISCARD, 8, 8, ALIGNED), op(WRITE, 9, 1, ALIGNED, 0x88), op(SETTLE),
        op(READ, 8, 8, ALIGNED),
    ])
    write("overlay_disk_fuzz", "partial-writes-one-cluster", halves)
    # The short last cluster, and requests at and past the end.
    tail = b"\x00" + b"".join([
        op(WRITE, 130, 1, ALIGNED, 0x99), op(WRITE, 128, 3, ALIGNED, 0xAA),
        op(WRITE_ZEROES, 131, 1, ALIGNED), op(READ, 128, 4, ALIGNED),
        op(WRITE, 67000, 500, 0, 0xBB), op(READ, 67071, 1, 0), op(SETTLE),
    ])
    write("overlay_disk_fuzz", "short-last-cluster", tail)
    write("overlay_disk_fuzz", "one-sector-disk", b"\x02" + b"".join([
        op(WRITE, 0, 1, ALIGNED, 0xCC), op(READ, 0, 1, ALIGNED), op(SETTLE),
        op(WRITE_ZEROES, 100, 50, 0), op(WRITE, 0, 2, ALIGNED, 0xDD), op(READ, 0, 512, 0),
    ]))


# ---- kernel_loader_fuzz -------------------------------------------------------

MEM_64M, MEM_4M, MEM_HOLE, MEM_2M = 0, 1, 2, 3
PREFER_PVH, INITRD, RSDP = 0x04, 0x08, 0x10


def loader_input(flags, cmdline_len, initrd_len16, kernel):
    b = bytes([flags, cmdline_len // 9])
    if flags & INITRD:
        b += u16(initrd_len16)
    return b + kernel


def bzimage(setup_sects=4, code=b"\xf4\xeb\xfd" * 300, init_size=0x400000, pref=0x1000000,
            relocatable=1, head=None):
    """A bzImage with protocol 2.15's header; with `head` (a real file's first
    sectors) that header as it is, but for the setup length and syssize."""
    setup = bytearray((setup_sects + 1) * 512)
    code = bytes(code)
    if head:
        setup[:] = head[:len(setup)]
    else:
        struct.pack_into("<H", setup, 0x1FE, 0xAA55)
        setup[0x200:0x202] = b"\xeb\x66"  # jmp over the header, to 0x268
        setup[0x202:0x206] = b"HdrS"
        struct.pack_into("<H", setup, 0x206, 0x020F)
        setup[0x211] = 0x81  # LOADED_HIGH | CAN_USE_HEAP
        struct.pack_into("<I", setup, 0x22C, 0x7FFFFFFF)  # initrd_addr_max
        struct.pack_into("<I", setup, 0x230, 0x200000)  # kernel_alignment
        setup[0x234] = relocatable
        struct.pack_into("<H", setup, 0x236, 0x3)  # XLF_KERNEL_64 | CAN_BE_LOADED_ABOVE_4G
        struct.pack_into("<I", setup, 0x238, 2047)  # cmdline_size
        struct.pack_into("<Q", setup, 0x258, pref)
        struct.pack_into("<I", setup, 0x260, init_size)
    setup[0x1F1] = setup_sects
    struct.pack_into("<I", setup, 0x1F4, (len(code) + 15) // 16)  # syssize
    return bytes(setup) + code


def elf(loads, notes_in_phdr=(), notes_in_section=(), entry=None, note_align=4):
    """loads: [(paddr, vaddr, data, memsz)]; notes: [(name, type, desc)]."""
    def note_bytes(notes):
        out = b""
        for name, ntype, desc in notes:
            n = name + b"\0"
            pad = lambda x: x + b"\0" * (-len(x) % note_align)  # noqa: E731
            out += u32(len(n)) + u32(len(desc)) + u32(ntype) + pad(n) + pad(desc)
        return out

    phnum = len(loads) + (1 if notes_in_phdr else 0)
    ph_off = 64
    data_off = ph_off + 56 * phnum
    blobs, phdrs = b"", []
    for paddr, vaddr, data, memsz in loads:
        phdrs.append(struct.pack("<IIQQQQQQ", 1, 5, data_off + len(blobs), vaddr, paddr,
                                 len(data), memsz, 0x1000))
        blobs += data
    if notes_in_phdr:
        nb = note_bytes(notes_in_phdr)
        phdrs.append(struct.pack("<IIQQQQQQ", 4, 4, data_off + len(blobs), 0, 0, len(nb),
                                 len(nb), note_align))
        blobs += nb
    sh_off, shnum, shdrs = 0, 0, b""
    if notes_in_section:
        nb = note_bytes(notes_in_section)
        note_at = data_off + len(blobs)
        blobs += nb
        sh_off = data_off + len(blobs)
        shdrs = b"\0" * 64 + struct.pack("<IIQQQQIIQQ", 0, 7, 2, 0, note_at, len(nb), 0, 0,
                                         note_align, 0)
        shnum = 2
    ident = b"\x7fELF" + bytes([2, 1, 1]) + b"\0" * 9
    e_entry = entry if entry is not None else loads[0][1]
    ehdr = ident + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, e_entry, ph_off, sh_off, 0, 64, 56,
                               phnum, 64 if shnum else 0, shnum, 0)
    return ehdr + b"".join(phdrs) + blobs + shdrs


def real_bzimage_head(path):
    if path is None:
        try:
            out = subprocess.run([os.path.join(HERE, "../../scripts/build-guest-kernel")],
                                 capture_output=True, text=True, check=True, timeout=30)
            path = os.path.join(out.stdout.strip(), "bzImage")
        except (OSError, subprocess.SubprocessError):
            return None
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    setup = (data[0x1F1] or 4) + 1
    return data[:setup * 512], data[setup * 512:setup * 512 + 2048]


def kernel_seeds(bzimage_path):
    code = b"\xf4\xeb\xfd" * 300
    write("kernel_loader_fuzz", "bzimage-minimal",
          loader_input(MEM_64M, 27, 0, bzimage(setup_sects=1, code=code)))
    write("kernel_loader_fuzz", "bzimage-initrd-rsdp",
          loader_input(MEM_4M | INITRD | RSDP, 90, 64, bzimage(init_size=0x100000, pref=0)))
    write("kernel_loader_fuzz", "bzimage-non-relocatable",
          loader_input(MEM_HOLE | INITRD, 9, 1, bzimage(relocatable=0, pref=0x100000)))
    real = real_bzimage_head(bzimage_path)
    if real is not None:
        head, payload = real
        # The real boot sector and setup header (init_size, pref_address and
        # all), the setup cut to 4 sectors and 2 KiB of the real payload.
        write("kernel_loader_fuzz", "bzimage-real-header",
              loader_input(MEM_64M | INITRD | RSDP, 45, 256,
                           bzimage(setup_sects=4, code=payload, head=head)))

    base = 0x1000000
    text = b"\xfa\xf4" * 64 + b"\xf4" * 128
    virt = 0xFFFFFFFF81000000
    pvh = (b"Xen", 18, u32(base + 0x40))
    build_id = (b"GNU", 3, bytes(range(20)))
    write("kernel_loader_fuzz", "elf-pvh-note",
          loader_input(MEM_64M | PREFER_PVH | INITRD, 36, 16,
                       elf([(base, virt, text, 0x3000)], notes_in_phdr=[build_id, pvh])))
    write("kernel_loader_fuzz", "elf-pvh-note-in-section",
          loader_input(MEM_4M | PREFER_PVH, 18, 0,
                       elf([(0x200000, 0x200000, text, 0x2000)],
                           notes_in_section=[(b"Xen", 18, u32(0x200040))], note_align=8)))
    write("kernel_loader_fuzz", "elf-linux64-two-loads",
          loader_input(MEM_HOLE | RSDP, 9, 0,
                       elf([(0x200000, virt, text, 0x1000),
                            (0x2000000, virt + 0x1E00000, b"\x11" * 100, 0x800)],
                           notes_in_phdr=[(b"Xen", 18, struct.pack("<Q", 0x200010))],
                           note_align=8)))
    write("kernel_loader_fuzz", "elf-8-byte-note",
          loader_input(MEM_2M | PREFER_PVH, 0, 0,
                       elf([(0x100000, 0x100000, text, 0x1000)],
                           notes_in_phdr=[build_id, (b"Xen", 18, struct.pack("<Q", 0x100000))],
                           note_align=8)))


# ---- vmm_config_fuzz ----------------------------------------------------------

def config_seeds():
    full = (b'{"kernel": "/boot/vmlinuz", "initrd": "/boot/initrd.cpio", '
            b'"cmdline": "console=ttyS0 quiet", "vcpus": 2, "memory": 512, '
            b'"serial": "file:/tmp/console.log", "api-sock": "/run/vm.sock", "events": "3", '
            b'"no-reboot": true, "id": "web-1", '
            b'"disk": ["path=/img/root.ext4,ephemeral", "path=/vol/d.raw,id=data,direct"], '
            b'"net": "tap=tap0,mac=02:aa:bb:cc:dd:ee,id=eth0"}')
    write("vmm_config_fuzz", "json-every-key", b"\x00" + full)
    write("vmm_config_fuzz", "json-minimal", b'\x00{"kernel": "/k", "memory": "128"}')
    write("vmm_config_fuzz", "json-nets",
          b'\x00{"net": ["tap=t0", "tap=t1,mac=02:00:00:00:00:01"], "disk": "path=/a,readonly",'
          b' "events": "/tmp/events.jsonl", "serial": "none"}')

    def argv(args, file_text=b""):
        return b"\x01" + bytes([len(args)]) + b"".join(a + b"\0" for a in args) + file_text

    write("vmm_config_fuzz", "argv-every-option", argv([
        b"--kernel", b"/boot/bzImage", b"--initrd=/i.cpio", b"--cmdline", b"console=ttyS0",
        b"--vcpus", b"4", b"--memory=1024", b"--serial", b"stdio", b"--api-sock", b"/run/a",
        b"--events", b"7", b"--no-reboot", b"--id", b"db.2",
        b"--disk", b"path=/a,id=root,ephemeral", b"--net=tap=tap3,mac=02:12:34:56:78:9a",
    ]))
    write("vmm_config_fuzz", "argv-with-config-file",
          argv([b"--memory", b"64", b"--config", b"-", b"--vcpus=2"],
               b'{"kernel": "/k", "net": "tap=t", "id": "from-file"}'))
    write("vmm_config_fuzz", "argv-help", argv([b"--kernel", b"/k", b"--help"]))
    # What the fuzzer found (see the fixes' commits), kept as seeds.
    write("vmm_config_fuzz", "found-number-overflow", b'\x00{"vcpus": 1e999}')
    write("vmm_config_fuzz", "found-mac-with-a-space",
          b'\x00{"net": "tap=t1,mac=02:00:00:00:00: 1"}')


# ---- api_request_fuzz ---------------------------------------------------------

GET, PUT, POST = 0, 1, 2


def request(method, path, body=b""):
    return bytes([method, len(path)]) + path + body


def api_seeds():
    write("api_request_fuzz", "get-vm", request(GET, b"/vm"))
    write("api_request_fuzz", "get-metrics", request(GET, b"/metrics"))
    for action in (b"pause", b"resume", b"reboot", b"power-button", b"kill"):
        write("api_request_fuzz", "put-" + action.decode(),
              request(PUT, b"/vm/actions", b'{"action": "' + action + b'"}'))
    write("api_request_fuzz", "put-extra-fields",
          request(PUT, b"/vm/actions", b'{"action": "kill", "why": [1, 2.5, {"a": null}]}'))
    write("api_request_fuzz", "put-not-a-string", request(PUT, b"/vm/actions", b'{"action": 7}'))
    write("api_request_fuzz", "post-vm", request(POST, b"/vm", b"{}"))
    write("api_request_fuzz", "get-unknown", request(GET, b"/vm/x?y#z"))
    # What the fuzzer found (see the fixes' commits), kept as seeds.
    write("api_request_fuzz", "found-path-not-utf8", request(GET, b"/vm\xff"))
    write("api_request_fuzz", "found-number-overflow",
          request(PUT, b"/vm/actions", b'{"action": 1e999}'))


def main():
    legacy_seeds()
    overlay_seeds()
    kernel_seeds(sys.argv[1] if len(sys.argv) > 1 else None)
    config_seeds()
    api_seeds()


if __name__ == "__main__":
    main()
