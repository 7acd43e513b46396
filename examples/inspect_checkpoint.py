#!/usr/bin/env python3
"""inspect_checkpoint.py: lists what a safetensors checkpoint holds, with the standard library only.

    python3 examples/inspect_checkpoint.py out/ckpt.safetensors

prints one line per tensor (name, dtype, shape, bytes), then the metadata, for a file written by
attograd (ag::save, save_training_checkpoint) or by anything else that writes safetensors, such
as safetensors.torch.save_file. The format is small enough to read by hand, which is the point:
8 bytes of little-endian header length N, N bytes of JSON saying where each tensor's bytes are,
then the bytes. To load the tensors into PyTorch: safetensors.torch.load_file(path).
"""
import json
import os
import struct
import sys

ELEMENT_SIZE = {"F32": 4, "F64": 8, "I64": 8, "BOOL": 1, "F16": 2, "BF16": 2, "I32": 4,
                "I16": 2, "I8": 1, "U8": 1, "U16": 2, "U32": 4, "U64": 8}


def read_header(path):
    """Returns (tensors: {name: info}, metadata: {str: str}, data section size)."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        prefix = f.read(8)
        if len(prefix) < 8:
            raise ValueError(f"{path}: {size} bytes, shorter than the 8-byte header length")
        (n,) = struct.unpack("<Q", prefix)
        if n > size - 8:
            raise ValueError(f"{path}: header length {n} runs past the end ({size} bytes)")
        header = json.loads(f.read(n).decode("utf-8"))
    metadata = header.pop("__metadata__", {}) or {}
    return header, metadata, size - 8 - n


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    tensors, metadata, data_size = read_header(argv[1])
    total = 0
    width = max([len(name) for name in tensors] + [4])
    print(f"{'name':<{width}}  {'dtype':<5}  {'shape':<20}  {'bytes':>12}")
    for name in sorted(tensors):
        info = tensors[name]
        begin, end = info["data_offsets"]
        shape = "(" + ", ".join(str(s) for s in info["shape"]) + ")"
        print(f"{name:<{width}}  {info['dtype']:<5}  {shape:<20}  {end - begin:>12}")
        total += end - begin
    print(f"{len(tensors)} tensors, {total} bytes of data (data section {data_size} bytes)")
    if metadata:
        print("metadata:")
        for key in sorted(metadata):
            print(f"  {key} = {metadata[key]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
