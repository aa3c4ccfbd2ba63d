"""Writes the export fixtures of tests/import.rs from the documented layouts
(docs/import.md): a WeChat Pay ALL, SUCCESS, REFUND and legacy bill, an
Alipay trade detail (CSV and .csv.zip, GBK), a UnionPay ZM file and an
in-house warehouse export. Run from the repository root; deterministic."""

import io
import zipfile

OUT = "testdata/exports"

# ---------------------------------------------------------------- WeChat Pay
ALL = ("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,"
       "货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,"
       "商户数据包,手续费,费率,订单金额,申请退款金额,费率备注").split(",")


def wx_row(values):
    return ",".join("`" + v for v in values)


def all_row(ts, sub, order, trade, state, settle, coupon, refund, name, fee, total, refund_req="0.00"):
    d = dict.fromkeys(ALL, "")
    d.update({"交易时间": ts, "公众账号ID": "wxab8acd895ab1638a", "商户号": "1921000401", "特约商户号": sub,
              "微信订单号": order, "商户订单号": "m" + order[-8:], "用户标识": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
              "交易类型": trade, "交易状态": state, "付款银行": "CMB_CREDIT", "货币种类": "CNY",
              "应结订单金额": settle, "代金券金额": coupon, "退款金额": refund, "充值券退款金额": "0.00",
              "商品名称": name, "手续费": fee, "费率": "0.60%", "订单金额": total, "申请退款金额": refund_req})
    if state in ("REFUND", "REVOKED"):
        d.update({"微信退款单号": "50000" + order[-10:], "商户退款单号": "r" + order[-8:], "退款类型": "ORIGINAL",
                  "退款状态": "SUCCESS"})
    return [d[c] for c in ALL]


ROWS = [
    all_row("2021-10-04 09:12:01", "0", "4200000263202110047700134901", "NATIVE", "SUCCESS", "0.03", "0.00",
            "0.00", "autotest", "0.01000", "0.03"),
    # A sub-merchant, a comma inside the product name, a coupon.
    all_row("2021-10-04 10:30:45", "1900000109", "4200000263202110047700134902", "JSAPI", "SUCCESS", "118.00",
            "10.00", "0.00", "T恤,白色 L", "0.70800", "128.00"),
    all_row("2021-10-05 18:02:33", "0", "4200000263202110057700134903", "MICROPAY", "SUCCESS", "56.50", "0.00",
            "0.00", "咖啡", "0.33900", "56.50"),
    all_row("2021-10-05 20:00:00", "1900000109", "4200000263202110047700134902", "JSAPI", "REFUND", "0.00",
            "0.00", "128.00", "T恤,白色 L", "-0.70800", "0.00", "128.00"),
    all_row("2021-10-05 21:10:10", "0", "4200000263202110057700134904", "MICROPAY", "REVOKED", "0.00", "0.00",
            "9.90", "奶茶", "0.00000", "9.90", "9.90"),
]
SUMMARY = ["总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额",
           "`5,`174.53,`137.90,`0.00,`1.07800,`194.43,`137.90"]


def write_wechat(name, header, rows, summary):
    text = "\r\n".join([",".join(header)] + [wx_row(r) for r in rows] + summary) + "\r\n"
    with open(f"{OUT}/{name}", "wb") as f:
        f.write(b"\xef\xbb\xbf" + text.encode("utf-8"))


write_wechat("wechat-ALL.csv", ALL, ROWS, SUMMARY)

REFUND_COLS = {"微信退款单号", "商户退款单号", "退款金额", "充值券退款金额", "退款类型", "退款状态", "申请退款金额"}
SUCCESS = [c for c in ALL if c not in REFUND_COLS]
success_rows = [[v for c, v in zip(ALL, r) if c not in REFUND_COLS] for r in ROWS if r[ALL.index("交易状态")] == "SUCCESS"]
write_wechat("wechat-SUCCESS.csv", SUCCESS, success_rows,
             ["总交易单数,应结订单总金额,手续费总金额,订单总金额", "`3,`174.53,`1.07800,`184.53"])

at = ALL.index("代金券金额") + 1
REFUND = ALL[:at] + ["退款申请时间", "退款成功时间"] + ALL[at:]
refund_rows = [r[:at] + ["2021-10-05 19:59:00", "2021-10-05 20:00:00"] + r[at:] for r in ROWS[3:4]]
write_wechat("wechat-REFUND.csv", REFUND, refund_rows, [SUMMARY[0], "`1,`0.00,`128.00,`0.00,`-0.70800,`0.00,`128.00"])

LEGACY = ("交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,"
          "货币种类,总金额,代金券或立减优惠金额,微信退款单号,商户退款单号,退款金额,代金券或立减优惠退款金额,退款类型,"
          "退款状态,商品名称,商户数据包,手续费,费率").split(",")
legacy_rows = [["2016-05-01 12:00:00", "wx2421b1c4370ec43b", "10000100", "0", "", "1217752501201407033233368018",
                "m20160501", "oUpF8uMu", "NATIVE", "SUCCESS", "OTHERS", "CNY", "25.00", "5.00", "0", "0", "0.00",
                "0.00", "", "", "早餐", "", "0.15000", "0.60%"]]
write_wechat("wechat-legacy.csv", LEGACY, legacy_rows,
             ["总交易单数,总交易额,总退款金额,总代金券或立减优惠退款金额,手续费总金额", "`1,`25.00,`0.00,`0.00,`0.15000"])

# ---------------------------------------------------------------- Alipay
T = "\t"
ALIPAY_HEADER = ("支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,"
                 "订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,"
                 "券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注")


def alipay_row(tno, kind, name, created, done, store, amount, fee, refund_no=""):
    return ",".join([tno + T, "service_" + tno[-6:] + T, kind + T, name, created, done, store + T, store + T,
                     "alipay" + T, T, "*津水(602***@qq.com)" + T, amount, amount, "0.00", "0.00", "0.00", "0.00",
                     "0.00", "", "0.00" + T, "0.00", refund_no + T, fee, "0.00", name])


ALIPAY = "\n".join([
    "#支付宝业务明细查询",
    "#账号：[20880211096256330156]",
    "#起始日期：[2021年10月04日 00:00:00]   终止日期：[2021年10月05日 00:00:00]",
    "#-----------------------------------------业务明细列表----------------------------------------",
    ALIPAY_HEADER,
    alipay_row("2021100422001458860515315453", "交易", "下单测试", "2021-10-04 10:55:16", "2021-10-04 10:55:23",
               "store_001", "0.01", "0.00"),
    alipay_row("2021100422001458860515315454", "交易", "咖啡,大杯", "2021-10-04 11:00:00", "2021-10-04 11:00:05",
               "store_002", "35.00", "-0.21"),
    alipay_row("2021100422001458860515315455", "交易", "面包", "2021-10-04 12:00:00", "2021-10-04 12:00:02",
               "store_001", "12.50", "-0.08"),
    alipay_row("2021100422001458860515315454", "退款", "咖啡,大杯", "2021-10-04 15:00:00", "2021-10-04 15:00:01",
               "store_002", "-35.00", "0.21", "2021100415000001"),
    "#-----------------------------------------业务明细列表结束------------------------------------",
    "#交易合计：3笔，商家实收共47.51元，商家优惠共0.00元",
    "#退款合计：1笔，商家实收退款共-35.00元，商家优惠退款共0.00元",
    "#导出时间：[2021年10月05日 05:46:49]",
]) + "\n"
# The product names with commas are quoted, as Alipay writes them.
ALIPAY = ALIPAY.replace(",咖啡,大杯,", ",\"咖啡,大杯\",").replace(",咖啡,大杯\n", ",\"咖啡,大杯\"\n")
with open(f"{OUT}/alipay-trade-detail.csv", "wb") as f:
    f.write(ALIPAY.encode("gbk"))
# Some copies use half-width brackets in the column names.
with open(f"{OUT}/alipay-trade-detail-halfwidth.csv", "wb") as f:
    f.write(ALIPAY.replace("（", "(").replace("）", ")").encode("gbk"))
SUMMARY_CSV = "#支付宝业务汇总查询\n门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）\nstore_001,store_001,2,0,12.51\n"

# Zip with GBK entry names (no UTF-8 flag): written with ASCII stand-ins of
# the same byte length, then patched.
names = {"20880211096256330156_20211004_XXXXXXXX.csv": "20880211096256330156_20211004_业务明细.csv",
         "20880211096256330156_20211004_XXXXXXXXYYYYYY.csv": "20880211096256330156_20211004_业务明细(汇总).csv"}
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
    for stand_in, data in [(list(names)[0], ALIPAY.encode("gbk")), (list(names)[1], SUMMARY_CSV.encode("gbk"))]:
        info = zipfile.ZipInfo(stand_in, date_time=(2021, 10, 5, 5, 46, 49))
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, data)
raw = buf.getvalue()
for stand_in, real in names.items():
    a, b = stand_in.encode("ascii"), real.encode("gbk")
    assert len(a) == len(b), (stand_in, len(a), len(b))
    raw = raw.replace(a, b)
with open(f"{OUT}/alipay-trade-detail.csv.zip", "wb") as f:
    f.write(raw)

# ---------------------------------------------------------------- UnionPay ZM
WIDTHS = [3, 11, 11, 6, 10, 19, 12, 4, 2, 21, 2, 32, 2, 6, 10, 13, 13, 4, 15, 2, 2, 6, 2, 4, 32, 1, 21, 15, 1, 15,
          32, 13, 13, 8, 32, 13, 13, 12, 2, 1, 32, 98]


def zm_line(code, time, amount, qid, txn_type, mer, sub, sub_name, fee, discount):
    values = {0: code, 1: "00000000000", 2: "00000000000", 3: "123456", 4: time, 5: "6216********1234", 6: amount,
              7: "5812", 8: "07", 9: qid, 11: "ORDER" + qid[-6:], 15: fee, 16: amount, 19: txn_type, 20: "01",
              21: "000201", 27: mer, 29: sub, 30: sub_name, 35: discount}
    fields = []
    for i, w in enumerate(WIDTHS):
        b = values.get(i, "").encode("gbk")
        assert len(b) <= w, (i, values.get(i))
        fields.append(b + b" " * (w - len(b)))
    return b" ".join(fields).rstrip(b" ")


ZM = b"\r\n".join([
    zm_line("S22", "1022103015", "000000001234", "102210301500000000001", "01", "777290058110048",
            "777290058110101", "张记面馆（南山店）", "0000000000007", "0000000000100"),
    zm_line("S22", "1022113000", "000000005000", "102211300000000000002", "01", "777290058110048", "",
            "", "0000000000030", "0000000000500"),
    zm_line("S30", "1022120000", "000000001234", "102212000000000000003", "04", "777290058110048",
            "777290058110101", "张记面馆（南山店）", "0000000000000", "0000000000000"),
    zm_line("S31", "1022130000", "000000000800", "102213000000000000004", "31", "777290058110048",
            "777290058110102", "李氏茶铺", "0000000000000", "0000000000000"),
]) + b"\r\n"
with open(f"{OUT}/INN21102388ZM_777290058110048", "wb") as f:
    f.write(ZM)

# ---------------------------------------------------------------- in-house
WAREHOUSE = "\n".join([
    "order_no;paid_at;site;shop;city_code;pay_channel;app;amount_fen;state",
    "A-1001;2021-10-04 09:00:00;taobao;S01;440300;web;alipay;1999;PAID",
    "A-1002;2021-10-04 09:05:00;taobao;S02;440300;web;unionpay;50000;PAID",
    "A-1003;2021-10-04 09:10:00;taobao;S01;440300;web;alipay;1500;FAILED",
    "A-1004;2021-10-04 09:20:00;taobao;S03;110105;scan;wechat;800;PAID",
    "A-1002;2021-10-05 10:00:00;taobao;S02;440300;web;unionpay;50000;REFUNDED",
]) + "\n"
with open(f"{OUT}/warehouse-payments.csv", "w", encoding="utf-8") as f:
    f.write(WAREHOUSE)
