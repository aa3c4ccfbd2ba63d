"""Measures `hutong import` on large WeChat Pay ALL bills: wall time and peak
resident memory for two sizes, to show that memory stays flat as the bill
grows. Usage: python3 bench/import_bill.py HUTONG [ROWS ...] (default 500000
2000000). Writes the bills under $BENCH_DIR (default a temporary directory)."""

import os
import subprocess
import sys
import tempfile

HEADER = ("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,"
          "货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,"
          "商户数据包,手续费,费率,订单金额,申请退款金额,费率备注")


def bill(path, rows):
    with open(path, "wb") as f:
        f.write(b"\xef\xbb\xbf" + HEADER.encode() + b"\r\n")
        for i in range(rows):
            state = "REFUND" if i % 20 == 19 else "SUCCESS"
            sec = i % 86400
            ts = f"2021-10-04 {sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}"
            values = [ts, "wxab8acd895ab1638a", "1921000401", str(1900000000 + i % 5000), "", f"42000002632021{i:014d}",
                      f"m{i}", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "JSAPI", state, "CMB_CREDIT", "CNY", "12.34", "0.00", "",
                      "", "0.00", "0.00", "", "", "商品,名称", "", "0.07404", "0.60%", "12.34", "0.00", ""]
            f.write((",".join("`" + v for v in values) + "\r\n").encode())
        f.write("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n".encode())
        f.write(b"`0,`0,`0,`0,`0,`0,`0\r\n")


def main():
    hutong = sys.argv[1]
    sizes = [int(x) for x in sys.argv[2:]] or [500_000, 2_000_000]
    work = os.environ.get("BENCH_DIR") or tempfile.mkdtemp()
    for rows in sizes:
        path = os.path.join(work, f"bill-{rows}.csv")
        bill(path, rows)
        out = os.path.join(work, f"out-{rows}")
        cmd = ["/usr/bin/time", "-f", "%e %M", hutong, "import", "--profile", "wechat-trade-bill", path,
               "--out", out, "--set", "platform=wechat_mp", "--set", "channel=online", "--set", "region=440300",
               "--quiet"]
        r = subprocess.run(cmd, capture_output=True, text=True, check=True)
        secs, kb = r.stderr.strip().splitlines()[-1].split()
        size = os.path.getsize(path) / 1e6
        print(f"{rows} rows ({size:.0f} MB): {float(secs):.1f} s, peak {int(kb) / 1024:.0f} MB resident")


if __name__ == "__main__":
    main()
