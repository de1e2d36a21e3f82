#!/usr/bin/python3
# An independent detection corpus for ftzgate (issue 8, section 6).
#
# Writes HTTP bodies (JSON, form-urlencoded, key/value CSV, tabular CSV) that
# carry identifiers next to look-alikes, with the ground truth of every body.
# It is a second opinion on the formats: nothing here comes from the engine's
# catalog, validators or test generators (tests/gen). Positives come from
# Debian's python3-fake-factory (Faker 0.9.3, zh_CN: ssn(), phone_number(),
# email()) or are built here from the public rules (UnionPay IIN 62 + Luhn,
# GB 32100 USCC with a GB 11714 organisation code). Negatives are made here:
#   trace_id18      18-digit trace/serial numbers that pass ISO 7064 MOD 11-2
#                   (random or "yyyymmddHHMMSS" + serial + check character);
#   num11           11-digit QQ and order numbers with allocated mobile
#                   prefixes (Faker's own prefix list);
#   luhn_order      Luhn-valid 16-19-digit order numbers (random or date-led);
#   unionpay_like   62-led 16-19-digit order numbers that FAIL Luhn (they look
#                   like UnionPay cards, DOMAIN.md §3.3 pitfalls);
#   timestamp       13-digit millisecond and 10-digit second Unix times.
# A negative that is a real identifier by this script's own reading of the
# standards is drawn again: a MOD 11-2-valid 18-digit number with a province
# code of Faker's area list (or a leading 9, the 2023 PR card) and a real
# birth date 1900..TODAY is a resident ID, and a 62-led 16-19-digit Luhn-valid
# number is a UnionPay card (trace IDs and order numbers alike). Everything else keeps its negative label, even
# where the engine might disagree: that disagreement is what the corpus
# measures.
#
# Usage (Debian's interpreter; `python3` on PATH cannot import Faker,
# ../shared/PLATFORM.md §8):
#   /usr/bin/python3 tests/engine/classification/faker_corpus.py [--out FILE]
# faker_corpus_test.cpp runs it at test time (0.2 s) and reads its output:
# nothing generated is committed. The output depends only on the seed, the
# pinned date and Faker's version, which is checked (exit 2 with a message
# when Faker 0.9.3 is missing: scripts/install-deps installs it).
#
# Output format (UTF-8, byte lengths):
#   body <n> <layout> <content-type> <length>\n<length bytes>\n
#   + <type> <canonical>        a positive (type: resident_id mobile bank_card email uscc)
#   - <kind> <text>             a negative
#   end\n
# Canonical forms are the ones docs/signatures.md documents for tokens:
# resident IDs upper case, mobiles 11 digits without +86, cards digits only,
# e-mails lower case, USCC upper case.
import argparse
import datetime
import io
import random
import sys
import urllib.parse

FAKER_VERSION = '0.9.3'
SEED = 20260302
# The C++ test sends at 2026-03-02 10:00 Asia/Shanghai: every birth date is
# before it. Faker's ssn() reads date.today(); it is pinned for determinism.
TODAY = datetime.date(2026, 3, 1)
BODIES_PER_LAYOUT = 24
LAYOUTS = ('json', 'form', 'csv_kv', 'csv_table')

try:
    import faker
    from faker import Faker
    import faker.providers.ssn.zh_CN as ssn_zh_cn
    import faker.providers.phone_number.zh_CN as phone_zh_cn
except ImportError:  # pragma: no cover
    faker = None


class _PinnedDate(datetime.date):
    @classmethod
    def today(cls):
        return TODAY


class _PinnedDatetime:
    date = _PinnedDate
    timedelta = datetime.timedelta


# --- check characters (public rules, written here) ---------------------------

def mod11_2(first17):
    """GB 11643-1999 / ISO 7064 MOD 11-2 check character."""
    weights = [pow(2, 17 - i, 11) for i in range(17)]
    s = sum(int(c) * w for c, w in zip(first17, weights))
    return '10X98765432'[s % 11]


def luhn_digit(payload):
    total = 0
    for i, c in enumerate(reversed(payload)):
        d = int(c)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_ok(digits):
    return luhn_digit(digits[:-1]) == digits[-1]


USCC_CHARSET = '0123456789ABCDEFGHJKLMNPQRTUWXY'


def uscc_check(first17):
    """GB 32100-2015: W_i = 3^(i-1) mod 31, C18 = 31 - (sum mod 31)."""
    s = sum(USCC_CHARSET.index(c) * pow(3, i, 31) for i, c in enumerate(first17))
    return USCC_CHARSET[(31 - s % 31) % 31]


def org_code_check(first8):
    """GB 11714-1997 organisation code: W = 3 7 9 10 5 8 4 2, C9 = 11 - sum mod 11."""
    weights = [3, 7, 9, 10, 5, 8, 4, 2]
    value = lambda c: int(c) if c.isdigit() else ord(c) - ord('A') + 10
    c = 11 - sum(value(ch) * w for ch, w in zip(first8, weights)) % 11
    return 'X' if c == 10 else '0' if c == 11 else str(c)


def real_date(s):
    try:
        d = datetime.date(int(s[0:4]), int(s[4:6]), int(s[6:8]))
    except ValueError:
        return False
    return datetime.date(1900, 1, 1) <= d <= TODAY


# --- the generator -------------------------------------------------------------

class Corpus:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.fake = Faker('zh_CN')
        self.fake.seed_instance(seed)
        self.provinces = sorted({a[:2] for a in ssn_zh_cn.Provider.area_codes})
        self.areas = [a for a in ssn_zh_cn.Provider.area_codes if not a.endswith('00')]
        self.prefixes = sorted(set(phone_zh_cn.Provider.phonenumber_prefixes))

    # positives

    def resident_id(self):
        return self.fake.ssn(min_age=18, max_age=80)

    def mobile(self):
        return self.fake.phone_number()

    def bank_card(self):
        n = self.rng.choice((16, 16, 16, 19))
        body = '62' + ''.join(self.rng.choice('0123456789') for _ in range(n - 3))
        return body + luhn_digit(body)

    def email(self):
        r = self.rng.random()
        if r < 0.2:
            qq = str(self.rng.randint(10000, 9999999999))  # 5-10 digits, never 11
            return qq + '@qq.com'
        return self.fake.free_email() if r < 0.6 else self.fake.email()

    def uscc(self):
        dept_type = self.rng.choice(('91', '91', '91', '92', '93', '11', '12', '51', '52', '53'))
        area = self.rng.choice(self.areas)
        if self.rng.random() < 0.5:
            # Entities registered after 2015: organisation code "MA" + 6.
            org = 'MA' + ''.join(self.rng.choice(USCC_CHARSET) for _ in range(6))
        else:
            org = ''.join(self.rng.choice('0123456789') for _ in range(8))
        org += org_code_check(org)
        first17 = dept_type + area + org
        return first17 + uscc_check(first17)

    # negatives

    def is_resident_id(self, s):
        if len(s) != 18 or not s[:17].isdigit():
            return False
        if s[0] != '9' and s[:2] not in self.provinces:
            return False
        return real_date(s[6:14]) and mod11_2(s[:17]) == s[17]

    def is_unionpay(self, s):
        return s.startswith('62') and 16 <= len(s) <= 19 and luhn_ok(s)

    def trace_id18(self):
        while True:
            if self.rng.random() < 0.5:
                t = datetime.datetime(2026, 1, 1) + datetime.timedelta(seconds=self.rng.randint(0, 59 * 86400))
                first17 = t.strftime('%Y%m%d%H%M%S') + '%03d' % self.rng.randint(0, 999)
            else:
                first17 = str(self.rng.randint(1, 9)) + ''.join(self.rng.choice('0123456789') for _ in range(16))
            s = first17 + mod11_2(first17)
            # Trace numbers are digits: a check character X is drawn again.
            if s[17] != 'X' and not self.is_resident_id(s) and not self.is_unionpay(s):
                return s

    def num11(self):
        return str(self.rng.choice(self.prefixes)) + ''.join(self.rng.choice('0123456789') for _ in range(8))

    def luhn_order(self):
        while True:
            n = self.rng.randint(16, 19)
            if self.rng.random() < 0.5:
                head = '2026%02d%02d' % (self.rng.randint(1, 2), self.rng.randint(1, 28))
            else:
                head = str(self.rng.randint(1, 9))
            body = head + ''.join(self.rng.choice('0123456789') for _ in range(n - 1 - len(head)))
            s = body + luhn_digit(body)
            if not self.is_unionpay(s):
                return s

    def unionpay_like(self):
        n = self.rng.randint(16, 19)
        body = '62' + ''.join(self.rng.choice('0123456789') for _ in range(n - 3))
        good = luhn_digit(body)
        return body + self.rng.choice([d for d in '0123456789' if d != good])

    def timestamp(self):
        t = 1767196800 + self.rng.randint(0, 59 * 86400)  # 2026-01-01 .. 2026-02-28 UTC
        return str(t * 1000 + self.rng.randint(0, 999)) if self.rng.random() < 0.7 else str(t)


# Field names, as exporters write them. A few positives sit under names that
# say nothing about the value ("unnamed"); negatives sit under the names their
# systems give them.
POSITIVE_KEYS = {
    'resident_id': ['idCard', 'id_card', '身份证号', 'idNo', 'sfzh', '证件号码', 'id_number'],
    'mobile': ['mobile', 'phone', '手机号', 'tel', 'contactPhone', '联系电话', 'cellphone'],
    'bank_card': ['cardNo', 'card_no', '银行卡号', 'bankCard', '卡号'],
    'email': ['email', '邮箱', 'mail', 'contactEmail'],
    'uscc': ['creditCode', '统一社会信用代码', 'uscc', 'credit_code', '社会信用代码'],
}
UNNAMED_KEYS = ['value', 'data', 'contact', 'account', 'info', 'field1']
NEGATIVE_KEYS = {
    'trace_id18': ['traceId', 'trace_id', 'request_id', '流水号', 'serialNo', 'txn_id'],
    'num11': ['qq', 'QQ号', 'qq_number', 'orderId', 'order_id', '订单号'],
    'luhn_order': ['orderNo', 'order_no', 'out_trade_no', '订单编号', 'transaction_id', 'tradeNo'],
    'unionpay_like': ['orderNo', 'order_no', 'out_trade_no', '订单编号', 'transaction_id', 'tradeNo'],
    'timestamp': ['ts', 'timestamp', 'createdAt', 'create_time', '时间戳'],
}
POSITIVE_TYPES = tuple(POSITIVE_KEYS)
NEGATIVE_KINDS = tuple(NEGATIVE_KEYS)


class Item:
    def __init__(self, positive, kind, text, canonical, key):
        self.positive = positive
        self.kind = kind
        self.text = text
        self.canonical = canonical
        self.key = key


class Body:
    def __init__(self, layout, content_type):
        self.layout = layout
        self.content_type = content_type
        self.text = ''
        self.items = []


def written(c, kind, value):
    """How an exporter writes a positive (separators, +86, lower-case x)."""
    r = c.rng.random()
    if kind == 'mobile':
        if r < 0.10:
            return '+86' + value
        if r < 0.15:
            return '+86 ' + value
        if r < 0.20:
            return '%s %s %s' % (value[:3], value[3:7], value[7:])
        if r < 0.25:
            return '%s-%s-%s' % (value[:3], value[3:7], value[7:])
    elif kind == 'bank_card' and r < 0.2:
        return ' '.join(value[i:i + 4] for i in range(0, len(value), 4))
    elif kind == 'resident_id' and value.endswith('X') and r < 0.3:
        return value[:-1] + 'x'
    return value


def make_record(c):
    """One person's / order's fields: (key, Item) pairs, shuffled."""
    fields = []
    for kind in POSITIVE_TYPES:
        if kind == 'uscc' and c.rng.random() < 0.5:
            continue
        if kind in ('bank_card', 'email') and c.rng.random() < 0.2:
            continue
        value = getattr(c, kind)()
        canonical = value.upper() if kind in ('resident_id', 'uscc') else value.lower()
        key = c.rng.choice(UNNAMED_KEYS if c.rng.random() < 0.12 else POSITIVE_KEYS[kind])
        fields.append((key, Item(True, kind, written(c, kind, value), canonical, key)))
    for kind in NEGATIVE_KINDS:
        # One or two of each kind, under different names.
        for key in c.rng.sample(NEGATIVE_KEYS[kind], c.rng.choice((1, 1, 2))):
            value = getattr(c, kind)()
            fields.append((key, Item(False, kind, value, value, key)))
    c.rng.shuffle(fields)
    return fields


def json_string(s):
    out = []
    for ch in s:
        if ch in '"\\':
            out.append('\\' + ch)
        elif ord(ch) > 0x7f and random_escape[0].random() < 0.1:
            out.append('\\u%04x' % ord(ch))  # some senders escape non-ASCII
        else:
            out.append(ch)
    return '"' + ''.join(out) + '"'


random_escape = [None]


def write_json(c, body, records):
    parts = []
    for fields in records:
        members = ['"name":' + json_string(c.fake.name())]
        nested = []
        for key, it in fields:
            value = it.text
            if it.kind == 'timestamp' and c.rng.random() < 0.7:
                members.append(json_string(key) + ':' + value)  # a JSON number
            elif it.kind == 'mobile' and it.positive and c.rng.random() < 0.2:
                nested.append((key, it))
            else:
                members.append(json_string(key) + ':' + json_string(value))
            body.items.append(it)
        if nested:
            # A contact sub-object, or an array of numbers under one key.
            if c.rng.random() < 0.5:
                inner = ','.join(json_string(k) + ':' + json_string(it.text) for k, it in nested)
                members.append('"contact":{' + inner + ',"verified":true}')
            else:
                extra = c.mobile()
                it = Item(True, 'mobile', extra, extra, nested[0][0])
                body.items.append(it)
                members.append(json_string('phones') + ':[' + ','.join(
                    json_string(x.text) for x in [n for _, n in nested] + [it]) + ']')
        if c.rng.random() < 0.4:
            # Free text: a label before each value, on one line.
            m = c.mobile()
            q = c.num11()
            o = c.luhn_order()
            body.items.append(Item(True, 'mobile', m, m, 'remark'))
            body.items.append(Item(False, 'num11', q, q, 'remark'))
            body.items.append(Item(False, 'luhn_order', o, o, 'remark'))
            members.append('"remark":' + json_string('客户来电，手机%s，QQ %s，订单号%s，已处理' % (m, q, o)))
        parts.append('{' + ','.join(members) + '}')
    sep = ',\n  ' if c.rng.random() < 0.5 else ','
    body.text = '{"batch":"B%05d","records":[' % c.rng.randint(0, 99999) + sep.join(parts) + ']}'


def form_encode(c, s):
    # quote() leaves digits and letters alone; percent-encode some digits too,
    # as some clients do.
    out = []
    for ch in s:
        if ch.isdigit() and c.rng.random() < 0.05:
            out.append('%%%02X' % ord(ch))
        else:
            out.append(urllib.parse.quote(ch, safe=''))
    return ''.join(out)


def write_form(c, body, records):
    pairs = ['batch=B%05d' % c.rng.randint(0, 99999)]
    php = c.rng.random() < 0.4
    for r, fields in enumerate(records):
        pairs.append(('records[%d][name]' % r if php else 'name') + '=' + form_encode(c, c.fake.name()))
        for key, it in fields:
            k = 'records[%d][%s]' % (r, key) if php else key
            pairs.append(form_encode(c, k) + '=' + form_encode(c, it.text))
            body.items.append(it)
    body.text = '&'.join(pairs)


def csv_cell(c, s):
    return '"' + s + '"' if c.rng.random() < 0.2 else s


def write_csv_kv(c, body, records):
    nl = c.rng.choice(('\n', '\r\n'))
    lines = [c.rng.choice(('field,value', '字段,值', 'key,value'))]
    for r, fields in enumerate(records):
        lines.append('record,%d' % (r + 1))
        lines.append('name,' + c.fake.name())
        for key, it in fields:
            lines.append(key + ',' + csv_cell(c, it.text))
            body.items.append(it)
    body.text = nl.join(lines) + nl


def write_csv_table(c, body, records):
    nl = c.rng.choice(('\n', '\r\n'))
    # One column per field kind; each record fills the columns it has.
    columns = []
    for fields in records:
        for key, it in fields:
            if it.kind not in [k for k, _ in columns]:
                columns.append((it.kind, key))
    lines = ['name,' + ','.join(key for _, key in columns)]
    for fields in records:
        by_kind = {}
        for key, it in fields:
            by_kind.setdefault(it.kind, it)
        cells = [c.fake.name()]
        for kind, key in columns:
            it = by_kind.get(kind)
            if it is None:
                cells.append('')
                continue
            # The column header is the field name of the value.
            it.key = key
            cells.append(csv_cell(c, it.text))
            body.items.append(it)
        lines.append(','.join(cells))
    body.text = nl.join(lines) + nl


def generate():
    c = Corpus(SEED)
    random_escape[0] = random.Random(SEED ^ 0x5c)
    bodies = []
    for layout in LAYOUTS:
        for _ in range(BODIES_PER_LAYOUT):
            records = [make_record(c) for _ in range(c.rng.randint(2, 5))]
            if layout == 'json':
                b = Body(layout, 'application/json; charset=utf-8')
                write_json(c, b, records)
            elif layout == 'form':
                b = Body(layout, 'application/x-www-form-urlencoded')
                write_form(c, b, records)
            elif layout == 'csv_kv':
                b = Body(layout, 'text/csv; charset=utf-8')
                write_csv_kv(c, b, records)
            else:
                b = Body(layout, 'text/csv; charset=utf-8')
                write_csv_table(c, b, records)
            bodies.append(b)
    out = io.StringIO()
    out.write('# ftzgate independent detection corpus: written by faker_corpus.py (Faker %s zh_CN, seed %d).\n'
              % (FAKER_VERSION, SEED))
    for n, b in enumerate(bodies):
        data = b.text.encode('utf-8')
        out.write('body %d %s %s %d\n' % (n, b.layout, b.content_type.replace(' ', ''), len(data)))
        out.write(b.text)
        out.write('\n')
        for it in b.items:
            if it.positive:
                out.write('+ %s %s\n' % (it.kind, it.canonical))
            else:
                out.write('- %s %s\n' % (it.kind, it.text))
        out.write('end\n')
    return out.getvalue()


def main():
    ap = argparse.ArgumentParser(description='ftzgate independent detection corpus (Faker zh_CN)')
    ap.add_argument('--out', metavar='FILE', help='write to FILE instead of standard output')
    args = ap.parse_args()
    if faker is None or faker.VERSION != FAKER_VERSION:
        print('faker_corpus: needs Faker %s (Debian python3-fake-factory, scripts/install-deps) under '
              '/usr/bin/python3; found %s' % (FAKER_VERSION, None if faker is None else faker.VERSION),
              file=sys.stderr)
        return 2
    ssn_zh_cn.datetime = _PinnedDatetime
    data = generate().encode('utf-8')
    if args.out:
        with open(args.out, 'wb') as f:
            f.write(data)
    else:
        sys.stdout.buffer.write(data)
    return 0


if __name__ == '__main__':
    sys.exit(main())
