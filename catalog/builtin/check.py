#!/usr/bin/env python3
"""Validates the built-in catalog CSVs in this directory (stdlib only).

Usage: python3 check.py [DIR]      (DIR defaults to the directory of this file)

Exits 0 when every check passes, 1 otherwise; each problem is printed as
FILE:LINE: message.
"""
import ast
import csv
import math
import os
import sys

# Column layouts, exactly as SkyPilot's catalog v7 CSVs name and order them.
LAYOUTS = {
    'aws': ['InstanceType', 'AcceleratorName', 'AcceleratorCount', 'vCPUs',
            'MemoryGiB', 'GpuInfo', 'Price', 'SpotPrice', 'Region',
            'AvailabilityZone'],
    'gcp': ['InstanceType', 'vCPUs', 'MemoryGiB', 'AcceleratorName',
            'AcceleratorCount', 'GpuInfo', 'Region', 'AvailabilityZone', 'Price',
            'SpotPrice'],
    'azure': ['InstanceType', 'AcceleratorName', 'AcceleratorCount', 'vCPUs',
              'MemoryGiB', 'GpuInfo', 'Price', 'SpotPrice', 'Region',
              'Generation'],
    'lambda': ['InstanceType', 'AcceleratorName', 'AcceleratorCount', 'vCPUs',
               'MemoryGiB', 'Price', 'Region', 'GpuInfo', 'SpotPrice'],
    'runpod': ['InstanceType', 'AcceleratorName', 'AcceleratorCount', 'vCPUs',
               'MemoryGiB', 'GpuInfo', 'Region', 'SpotPrice', 'Price',
               'AvailabilityZone'],
}
REQUIRED_CLOUDS = ['aws', 'gcp', 'azure', 'lambda', 'runpod']
# Every one of these accelerators must be offered by at least one cloud.
REQUIRED_GPUS = ['H200', 'H100', 'A100-80GB', 'A100', 'L40S', 'L4', 'A10G',
                 'A10', 'T4', 'V100']
# Clouds whose zone names are "<region>-..." / "<region><letter>".
ZONE_PREFIXED_BY_REGION = {'aws', 'gcp'}


class Checker:

    def __init__(self):
        self.errors = 0

    def err(self, where, msg):
        self.errors += 1
        print(f'{where}: {msg}')


def parse_number(text):
    value = float(text)
    if math.isnan(value) or math.isinf(value):
        raise ValueError('not finite')
    return value


def check_gpuinfo(ck, where, text, acc, count):
    """GpuInfo is either a bare name or a Python-literal dict."""
    if not text.startswith('{'):
        return
    try:
        info = ast.literal_eval(text)
    except (ValueError, SyntaxError) as e:
        ck.err(where, f'GpuInfo does not parse: {e}')
        return
    gpus = info.get('Gpus') if isinstance(info, dict) else None
    if not isinstance(gpus, list) or not gpus or not isinstance(gpus[0], dict):
        ck.err(where, 'GpuInfo has no Gpus list')
        return
    gpu = gpus[0]
    mib = gpu.get('MemoryInfo', {}).get('SizeInMiB')
    if not isinstance(mib, (int, float)) or mib <= 0:
        ck.err(where, 'GpuInfo MemoryInfo.SizeInMiB missing or not positive')
        return
    if 'Count' in gpu and count is not None and abs(float(gpu['Count']) - count) > 1e-6:
        ck.err(where, f"GpuInfo Count {gpu['Count']} != AcceleratorCount {count}")
    if 'TotalGpuMemoryInMiB' in info and 'Count' in gpu:
        expect = mib * float(gpu['Count'])
        if abs(float(info['TotalGpuMemoryInMiB']) - expect) > 1:
            ck.err(where, f"TotalGpuMemoryInMiB {info['TotalGpuMemoryInMiB']} != "
                   f'{gpu["Count"]} x {mib}')


def check_file(ck, path, cloud, gpus_seen):
    name = os.path.basename(path)
    layout = LAYOUTS[cloud]
    with open(path, newline='', encoding='utf-8') as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            ck.err(f'{name}:1', 'empty file')
            return 0
        if header != layout:
            ck.err(f'{name}:1', f'header {header} != expected {layout}')
            return 0
        seen = {}
        rows = 0
        for row in reader:
            line = reader.line_num
            where = f'{name}:{line}'
            if not row:
                continue
            rows += 1
            if len(row) != len(layout):
                ck.err(where, f'{len(row)} fields, expected {len(layout)}')
                continue
            r = dict(zip(layout, row))
            if not r['Region']:
                ck.err(where, 'empty Region')
            zone = r.get('AvailabilityZone', '')
            if 'AvailabilityZone' in r:
                if not zone:
                    ck.err(where, 'empty AvailabilityZone')
                elif cloud in ZONE_PREFIXED_BY_REGION and not zone.startswith(r['Region']):
                    ck.err(where, f'zone {zone} is not in region {r["Region"]}')
            if not r['InstanceType'] and not r['AcceleratorName']:
                ck.err(where, 'neither InstanceType nor AcceleratorName')
            # Numbers.
            values = {}
            for col in ('vCPUs', 'MemoryGiB', 'AcceleratorCount', 'Price', 'SpotPrice'):
                text = r[col]
                if text == '':
                    values[col] = None
                    continue
                try:
                    values[col] = parse_number(text)
                except ValueError:
                    ck.err(where, f'{col} {text!r} is not a number')
                    values[col] = float('nan')
            if any(v is not None and math.isnan(v) for v in values.values()):
                continue
            price, spot = values['Price'], values['SpotPrice']
            if price is None:
                ck.err(where, 'missing on-demand Price')
            elif price < 0:
                ck.err(where, f'negative Price {price}')
            if spot is not None:
                if spot < 0:
                    ck.err(where, f'negative SpotPrice {spot}')
                if price is not None and spot > price:
                    ck.err(where, f'SpotPrice {spot} > Price {price}')
            for col in ('vCPUs', 'MemoryGiB'):
                if values[col] is not None and values[col] <= 0:
                    ck.err(where, f'{col} must be positive')
            if r['InstanceType'] and (values['vCPUs'] is None or
                                      values['MemoryGiB'] is None):
                ck.err(where, 'instance row without vCPUs/MemoryGiB')
            count = values['AcceleratorCount']
            if bool(r['AcceleratorName']) != (r['AcceleratorCount'] != ''):
                ck.err(where, 'AcceleratorName and AcceleratorCount must be set together')
            if count is not None and count <= 0:
                ck.err(where, 'AcceleratorCount must be positive')
            if r['AcceleratorName']:
                gpus_seen.setdefault(r['AcceleratorName'], set()).add(cloud)
                # TPUs carry no GpuInfo in SkyPilot's catalog either.
                if not r['GpuInfo'] and not r['AcceleratorName'].startswith('tpu-'):
                    ck.err(where, 'accelerator row without GpuInfo')
            check_gpuinfo(ck, where, r['GpuInfo'], r['AcceleratorName'], count)
            # Duplicates. GCP-style attachable accelerator rows (no InstanceType)
            # differ only by count within a zone, so the count is part of their key.
            key = (r['InstanceType'], r['AcceleratorName'], r['Region'], zone)
            if not r['InstanceType']:
                key += (r['AcceleratorCount'],)
            if key in seen:
                ck.err(where, f'duplicate of line {seen[key]}: {key}')
            else:
                seen[key] = line
    return rows


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(
        os.path.abspath(__file__))
    ck = Checker()
    gpus_seen = {}
    files = sorted(f for f in os.listdir(directory) if f.endswith('.csv'))
    clouds = {os.path.splitext(f)[0] for f in files}
    for cloud in REQUIRED_CLOUDS:
        if cloud not in clouds:
            ck.err(f'{cloud}.csv', 'missing')
    for f in files:
        cloud = os.path.splitext(f)[0]
        if cloud not in LAYOUTS:
            ck.err(f, 'no known column layout for this cloud')
            continue
        n = check_file(ck, os.path.join(directory, f), cloud, gpus_seen)
        print(f'{f}: {n} rows')
    for gpu in REQUIRED_GPUS:
        if gpu not in gpus_seen:
            ck.err('catalog', f'no cloud offers {gpu}')
        else:
            print(f'{gpu}: {", ".join(sorted(gpus_seen[gpu]))}')
    if ck.errors:
        print(f'FAILED: {ck.errors} problem(s)')
        return 1
    print('OK')
    return 0


if __name__ == '__main__':
    sys.exit(main())
