"""gsgt_io: a small GSGT tensor-stream writer/reader for the bats tests (numpy + zstandard),
written from formats/tensor-stream.md independently of the C code, so the tests check the
tools against the spec rather than against themselves."""
import struct
import numpy as np
import zstandard as zstd

DT = {np.dtype('<f4'): 1, np.dtype('<f2'): 2, np.dtype('<f8'): 4, np.dtype('u1'): 5,
      np.dtype('<i4'): 6, np.dtype('<i8'): 7}
RD = {1: '<f4', 2: '<f2', 4: '<f8', 5: 'u1', 6: '<i4', 7: '<i8'}


def record(name, seq, arr, meta=''):
    """One record as one zstd frame (content size and checksum set)."""
    arr = np.array(arr, order="C", copy=True)
    nb, mb = name.encode(), meta.encode()
    fixed = 32 + 8 * arr.ndim + len(nb) + len(mb)
    hb = (fixed + 63) // 64 * 64
    h = struct.pack('<4sBBBBIHHQQ', b'GSGT', 1, DT[arr.dtype], arr.ndim, 0, hb, len(nb), len(mb), seq, arr.nbytes)
    h += struct.pack(f'<{arr.ndim}Q', *arr.shape) + nb + mb
    h += b'\0' * (hb - len(h))
    return zstd.ZstdCompressor(write_checksum=True, write_content_size=True).compress(h + arr.tobytes())


def write(path, recs):
    """recs: (name, seq, array[, meta]) tuples; the end record is appended."""
    with open(path, 'wb') as f:
        for r in recs:
            f.write(record(*r))
        f.write(record('gsg.end', 0, np.array(len(recs), dtype='<i8')))


def read_meta(path):
    """[(seq, name, array, meta)] of every data record."""
    out = []
    with open(path, 'rb') as f:
        r = zstd.ZstdDecompressor().stream_reader(f, read_across_frames=True)
        while (head := r.read(32)):
            if len(head) != 32:
                raise ValueError(f'{path}: truncated record header')
            magic, ver, dt, nd, fl, hb, nl, ml, seq, nb = struct.unpack('<4sBBBBIHHQQ', head)
            if magic != b'GSGT' or ver != 1:
                raise ValueError(f'{path}: bad record header')
            rest = r.read(hb - 32)
            dims = struct.unpack(f'<{nd}Q', rest[:8 * nd])
            name = rest[8 * nd:8 * nd + nl].decode()
            meta = rest[8 * nd + nl:8 * nd + nl + ml].decode()
            data = r.read(nb)
            if len(data) != nb:
                raise ValueError(f'{path}: truncated record {name}')
            if name != 'gsg.end':
                out.append((seq, name, np.frombuffer(data, RD[dt]).reshape(dims), meta))
    return out


def read(path):
    """[(seq, name, array)] of every data record."""
    return [(s, n, a) for s, n, a, _ in read_meta(path)]


def get(path, name):
    """All records called name, concatenated along dim 0."""
    return np.concatenate([a for s, n, a in read(path) if n == name])
