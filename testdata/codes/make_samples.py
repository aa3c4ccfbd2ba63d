#!/usr/bin/env python3
"""Writes the collection-code samples of the SG and ID rulebooks:
testdata/sg-sample/codes.csv and testdata/id-sample/codes.csv.

Its own EMV encoder and CRC (independent of hutong's), a fixed seed, and
planted violations of realistic size:
- SG: in Woodlands 30% of merchants show a PayNow-only code without the
  SGQR identifier; in Bedok 10% of codes fail their CRC (misprinted).
- ID: in Jawa Barat (32) 25% of merchants show a proprietary wallet code
  without the QRIS identifier; in Bali (51) 10% of codes fail their CRC.
Every other region is clean. Run from the repository root.
"""
import csv
import random
from pathlib import Path


def crc16(data: bytes) -> str:
    crc = 0xFFFF
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return f"{crc:04X}"


def tlv(tag: str, value: str) -> str:
    return f"{tag}{len(value):02d}{value}"


def payload(objects) -> str:
    body = tlv("00", "01") + "".join(tlv(t, v) for t, v in objects) + "6304"
    return body + crc16(body.encode("utf-8"))


def corrupt(p: str, rng) -> str:
    # One character of the merchant name changed: only the CRC tells.
    i = p.index("59") + 4
    c = "X" if p[i] != "X" else "Y"
    return p[:i] + c + p[i + 1:]


assert crc16(b"123456789") == "29B1"


def write(path: Path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["code_id", "captured_at", "region", "merchant_id", "platform", "payload"])
        for i, r in enumerate(rows, 1):
            w.writerow([f"C{i:05d}", *r])


def sg():
    rng = random.Random(2018)
    regions = ["Bedok", "Jurong West", "Tampines", "Woodlands", "Queenstown"]
    rows = []
    for region in regions:
        for k in range(60):
            mid = f"SG-{region[:3].upper()}-{k + 1:03d}"
            name = f"SHOP {region[:3].upper()} {k + 1:03d}"
            paynow = tlv("00", "SG.PAYNOW") + tlv("01", "2") + tlv("02", f"2019{rng.randrange(10**5):05d}X") + tlv("03", "0")
            sgqr = tlv("00", "SG.SGQR") + tlv("01", f"{rng.randrange(10**12):012d}") + tlv("02", "01.0001")
            objects = [("01", "11"), ("26", paynow)]
            if not (region == "Woodlands" and k % 10 < 3):
                objects.append(("51", sgqr))
            objects += [("52", "5812"), ("53", "702"), ("58", "SG"), ("59", name), ("60", "Singapore")]
            p = payload(objects)
            if region == "Bedok" and k % 10 == 0:
                p = corrupt(p, rng)
            day = rng.randrange(1, 28)
            rows.append([f"2024-03-{day:02d}T{rng.randrange(9, 21):02d}:00:00+08:00", region, mid, "offline", p])
    write(Path("testdata/sg-sample/codes.csv"), rows)


def id_():
    rng = random.Random(2020)
    regions = {"31": "JAKARTA", "32": "BANDUNG", "35": "SURABAYA", "51": "DENPASAR"}
    rows = []
    for region, city in regions.items():
        for k in range(60):
            mid = f"ID{region}{k + 1:04d}"
            name = f"TOKO {city[:4]} {k + 1:03d}"
            issuer = tlv("00", "ID.CO.TELKOM.WWW") + tlv("01", f"93600898{rng.randrange(10**11):011d}") + tlv("02", f"{rng.randrange(10**9):09d}") + tlv("03", "UMI")
            qris = tlv("00", "ID.CO.QRIS.WWW") + tlv("02", f"ID{rng.randrange(10**13):013d}") + tlv("03", "UMI")
            if region == "32" and k % 4 == 0:
                # A proprietary wallet code: no QRIS national merchant identifier.
                objects = [("01", "11"), ("26", tlv("00", "COM.EXAMPLEWALLET.WWW") + tlv("01", f"{rng.randrange(10**10):010d}"))]
            else:
                objects = [("01", "11"), ("26", issuer), ("51", qris)]
            objects += [("52", "5411"), ("53", "360"), ("58", "ID"), ("59", name), ("60", city), ("61", f"{rng.randrange(10000, 99999)}")]
            p = payload(objects)
            if region == "51" and k % 25 < 2:
                p = corrupt(p, rng)
            day = rng.randrange(1, 28)
            rows.append([f"2024-05-{day:02d}T{rng.randrange(8, 22):02d}:00:00+07:00", region, mid, "offline", p])
    write(Path("testdata/id-sample/codes.csv"), rows)


if __name__ == "__main__":
    sg()
    id_()
