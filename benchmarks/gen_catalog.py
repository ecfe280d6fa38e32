#!/usr/bin/env python3
"""Writes a synthetic, realistic multi-cloud catalog in SkyPilot's v7 layouts.

    python3 benchmarks/gen_catalog.py OUT_DIR [--rows 250000] [--seed 7]

Five clouds share the rows; each file uses its cloud's own column order (the
loader reads headers). Instance families, GPU shapes, regions and zones are
made up but shaped like the real ones: CPU families in many sizes, GPU
families with 1/2/4/8 devices, several regions per cloud, 2-6 zones each,
spot prices for most rows, quoted GpuInfo blobs.
"""

import argparse
import os
import random

LAYOUTS = {
    "aws": (
        "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,"
        "GpuInfo,Price,SpotPrice,Region,AvailabilityZone"
    ),
    "gcp": (
        "InstanceType,vCPUs,MemoryGiB,AcceleratorName,AcceleratorCount,"
        "GpuInfo,Region,AvailabilityZone,Price,SpotPrice"
    ),
    "azure": (
        "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,"
        "GpuInfo,Price,SpotPrice,Region,AvailabilityZone"
    ),
    "lambda": (
        "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,"
        "Price,Region,GpuInfo,SpotPrice,AvailabilityZone"
    ),
    "runpod": (
        "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,"
        "GpuInfo,Region,SpotPrice,Price,AvailabilityZone"
    ),
}
GPUS = [
    ("H200", 141, 4.3),
    ("H100", 80, 3.9),
    ("A100-80GB", 80, 2.6),
    ("A100", 40, 2.0),
    ("L40S", 48, 1.4),
    ("L4", 24, 0.7),
    ("A10G", 24, 1.0),
    ("A10", 24, 0.8),
    ("T4", 16, 0.5),
    ("V100", 16, 2.5),
]


def instance_types(cloud, rng):
    types = []
    for family in range(40):
        base = rng.uniform(0.03, 0.06)
        for size in (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96):
            vcpus = 2 * size
            mem = vcpus * rng.choice((2, 4, 8))
            types.append((f"{cloud[:2]}c{family}.{size}x", "", 0, vcpus, mem, "", base * vcpus))
    for name, mem_gb, price in GPUS:
        for gen in range(3):
            for count in (1, 2, 4, 8):
                info = (
                    f"{{'Gpus': [{{'Name': '{name}', 'Manufacturer': 'NVIDIA', 'Count': {count}, "
                    f"'MemoryInfo': {{'SizeInMiB': {mem_gb * 1024}}}}}], "
                    f"'TotalGpuMemoryInMiB': {mem_gb * 1024 * count}}}"
                )
                types.append(
                    (
                        f"{cloud[:2]}g{gen}-{name.lower()}.{count}x",
                        name,
                        count,
                        12 * count,
                        96 * count,
                        info,
                        price * count * rng.uniform(0.9, 1.4),
                    )
                )
    return types


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir")
    parser.add_argument("--rows", type=int, default=250_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    os.makedirs(args.out_dir, exist_ok=True)
    per_cloud = args.rows // len(LAYOUTS)
    total = 0
    for cloud, header in LAYOUTS.items():
        columns = header.split(",")
        types = instance_types(cloud, rng)
        rows = 0
        with open(os.path.join(args.out_dir, f"{cloud}.csv"), "w") as out:
            out.write(header + "\n")
            region_index = 0
            while rows < per_cloud:
                region = f"{cloud}-region-{region_index}"
                region_factor = rng.uniform(1.0, 1.3)
                for zone_index in range(rng.randint(2, 6)):
                    zone = f"{region}{chr(ord('a') + zone_index)}"
                    for itype, acc, count, vcpus, mem, info, price in types:
                        if rows >= per_cloud:
                            break
                        if rng.random() < 0.35:
                            continue  # not every type in every zone
                        on_demand = price * region_factor
                        spot = on_demand * rng.uniform(0.25, 0.45) if rng.random() < 0.8 else None
                        values = {
                            "InstanceType": itype,
                            "AcceleratorName": acc,
                            "AcceleratorCount": f"{count:.1f}" if acc else "",
                            "vCPUs": f"{vcpus:.1f}",
                            "MemoryGiB": f"{mem:.1f}",
                            "GpuInfo": f'"{info}"' if info else "",
                            "Price": f"{on_demand:.5f}",
                            "SpotPrice": f"{spot:.5f}" if spot is not None else "",
                            "Region": region,
                            "AvailabilityZone": zone,
                        }
                        out.write(",".join(values[c] for c in columns) + "\n")
                        rows += 1
                region_index += 1
        total += rows
    print(f"wrote {total} rows to {args.out_dir}")


if __name__ == "__main__":
    main()
