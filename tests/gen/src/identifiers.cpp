#include "ftz/test/gen/identifiers.hpp"

#include <array>
#include <chrono>
#include <cstdio>
#include <string>

namespace ftz::test::gen {

namespace {

// ISO 7064 MOD 11-2 weights W_i = 2^(18-i) mod 11 (GB 11643-1999).
constexpr std::array<int, 17> kIdWeights = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
constexpr std::string_view kIdCheckChars = "10X98765432";  // indexed by S mod 11

// GB 32100-2015 charset (no I, O, S, V, Z) and weights 3^(i-1) mod 31.
constexpr std::string_view kUsccCharset = "0123456789ABCDEFGHJKLMNPQRTUWXY";
constexpr std::array<int, 17> kUsccWeights = {1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28};

// Province prefixes accepted for resident IDs (DOMAIN.md §3.1).
bool valid_province(int p) {
  return (p >= 11 && p <= 15) || (p >= 21 && p <= 23) || (p >= 31 && p <= 37) || (p >= 41 && p <= 46) ||
         (p >= 50 && p <= 54) || (p >= 61 && p <= 65) || p == 71 || p == 81 || p == 82 || p == 83;
}

constexpr std::string_view kRegionCodes[] = {
    // Shanghai: Huangpu, Xuhui, Changning, Jing'an, Putuo, Hongkou, Yangpu,
    // Minhang, Baoshan, Jiading, Pudong (incl. Lin-gang), Jinshan, Songjiang,
    // Qingpu, Fengxian, Chongming.
    "310101", "310104", "310105", "310106", "310107", "310109", "310110", "310112", "310113", "310114",
    "310115", "310116", "310117", "310118", "310120", "310151",
    // Beijing: Dongcheng, Xicheng, Chaoyang, Fengtai, Haidian.
    "110101", "110102", "110105", "110106", "110108",
    // Guangdong: Yuexiu, Tianhe (Guangzhou); Luohu, Futian, Nanshan (Shenzhen).
    "440104", "440106", "440303", "440304", "440305",
    // Jiangsu / Zhejiang: Xuanwu (Nanjing), Gusu (Suzhou), Shangcheng, Xihu (Hangzhou).
    "320102", "320508", "330102", "330106",
    // Others: Heping (Tianjin), Jiang'an (Wuhan), Jinjiang (Chengdu), Yuzhong
    // (Chongqing), Lixia (Jinan), Yanta (Xi'an), Gulou (Fuzhou), Furong (Changsha).
    "120101", "420102", "510104", "500103", "370102", "610113", "350102", "430102"};

// Allocated network codes (DOMAIN.md §3.4), minus satellite and IoT ranges.
constexpr std::string_view kMobilePrefixes[] = {"130", "131", "132", "133", "135", "136", "137", "138", "139",
                                                "150", "151", "152", "153", "155", "156", "157", "158", "159",
                                                "166", "176", "177", "178", "180", "181", "182", "183", "185",
                                                "186", "187", "188", "189", "191", "198", "199"};

constexpr std::string_view kSurnames[] = {
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐",   "孙",   "马",  "朱", "胡",
    "郭", "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许",   "韩",   "冯",  "邓", "曹",
    "彭", "曾", "肖", "田", "董", "袁", "潘", "蒋", "蔡", "余", "杜",   "叶",   "程",  "苏", "魏",
    "吕", "丁", "任", "沈", "姚", "卢", "姜", "崔", "钟", "谭", "陆",   "汪",   "范",  "金", "石",
    "廖", "贾", "夏", "韦", "方", "白", "邹", "孟", "熊", "秦", "欧阳", "司马", "诸葛"};

constexpr std::string_view kGivenChars[] = {
    "伟", "芳", "娜", "秀", "英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳",
    "杰", "娟", "涛", "明", "超", "兰", "霞", "平", "刚", "桂", "华", "建", "国", "文",
    "辉", "玲", "鹏", "宇", "浩", "婷", "雪", "琳", "晨", "欣", "怡", "子", "梓", "涵",
    "博", "嘉", "俊", "佳", "颖", "思", "瑞", "凯", "晓", "海", "东", "志", "慧", "红"};

// Plate letters: A-Z without I and O (GA 36).
constexpr std::string_view kPlateLetters = "ABCDEFGHJKLMNPQRSTUVWXYZ";

}  // namespace

char resident_id_check_char(std::string_view first17) {
  int sum = 0;
  for (std::size_t i = 0; i < 17; ++i) sum += (first17[i] - '0') * kIdWeights[i];
  return kIdCheckChars[static_cast<std::size_t>(sum % 11)];
}

bool is_real_date(int year, int month, int day) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || day < 1) return false;
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return day <= kDays[month - 1] + (month == 2 && leap ? 1 : 0);
}

bool is_valid_resident_id(std::string_view id, int today_yyyymmdd) {
  if (id.size() != 18) return false;
  for (std::size_t i = 0; i < 17; ++i) {
    if (id[i] < '0' || id[i] > '9') return false;
  }
  if (!valid_province((id[0] - '0') * 10 + (id[1] - '0'))) return false;
  const int date = std::stoi(std::string(id.substr(6, 8)));
  if (date < 19000101 || date > today_yyyymmdd) return false;
  if (!is_real_date(date / 10000, date / 100 % 100, date % 100)) return false;
  const char check = id[17] == 'x' ? 'X' : id[17];
  return check == resident_id_check_char(id.substr(0, 17));
}

bool is_valid_mobile(std::string_view n) {
  if (n.size() != 11 || n[0] != '1') return false;
  for (char c : n) {
    if (c < '0' || c > '9') return false;
  }
  const int a = n[1] - '0';
  const int b = n[2] - '0';
  switch (a) {
    case 3:
      return true;
    case 4:
      return b >= 5;
    case 5:
      return b != 4;
    case 6:
      return b == 2 || (b >= 5 && b <= 7) || (b == 1 && n[3] == '9');
    case 7:
      return b <= 8;
    case 8:
      return true;
    case 9:
      return b != 4;
    default:
      return false;
  }
}

char uscc_check_char(std::string_view first17) {
  int sum = 0;
  for (std::size_t i = 0; i < 17; ++i) {
    const auto v = kUsccCharset.find(first17[i]);
    if (v == std::string_view::npos) return '\0';
    sum += static_cast<int>(v) * kUsccWeights[i];
  }
  const int c = (31 - sum % 31) % 31;
  return kUsccCharset[static_cast<std::size_t>(c)];
}

bool is_valid_uscc(std::string_view code) {
  return code.size() == 18 && uscc_check_char(code.substr(0, 17)) == code[17] && code[17] != '\0';
}

char luhn_check_digit(std::string_view payload) {
  // Positions counted from the right of the final number: the check digit is
  // position 1, so the payload's rightmost digit (position 2) is doubled.
  int sum = 0;
  bool dbl = true;
  for (auto it = payload.rbegin(); it != payload.rend(); ++it, dbl = !dbl) {
    int d = *it - '0';
    if (dbl) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return static_cast<char>('0' + (10 - sum % 10) % 10);
}

bool luhn_valid(std::string_view digits) {
  if (digits.size() < 2) return false;
  return luhn_check_digit(digits.substr(0, digits.size() - 1)) == digits.back();
}

std::span<const std::string_view> region_codes() {
  return kRegionCodes;
}

std::int64_t unix_seconds(int year, int month, int day, int hour, int minute, int second,
                          int utc_offset_minutes) {
  // <chrono>'s proleptic Gregorian calendar (not the product's ftz::civil:
  // the generator stays independent of the code it tests).
  const std::int64_t days =
      std::chrono::sys_days{std::chrono::year{year} / month / day}.time_since_epoch().count();
  return days * 86400 + hour * 3600 + minute * 60 + second - std::int64_t{utc_offset_minutes} * 60;
}

std::string random_resident_id(Rng& rng, int min_birth_year, int max_birth_year) {
  std::string id(kRegionCodes[rng.below(std::size(kRegionCodes))]);
  const int year = rng.between(min_birth_year, max_birth_year);
  const int month = rng.between(1, 12);
  int day = rng.between(1, 31);
  while (!is_real_date(year, month, day)) --day;
  char digits[48];
  std::snprintf(digits, sizeof digits, "%04d%02d%02d%03d", year % 10000, month, day, rng.between(0, 999));
  id += digits;
  id += resident_id_check_char(id);
  return id;
}

std::string random_chinese_name(Rng& rng) {
  std::string name(kSurnames[rng.below(std::size(kSurnames))]);
  const int given = rng.chance(70) ? 2 : 1;
  for (int i = 0; i < given; ++i) name += kGivenChars[rng.below(std::size(kGivenChars))];
  return name;
}

std::string IdentityFactory::resident_id(int min_birth_year, int max_birth_year) {
  for (;;) {
    std::string id = random_resident_id(rng_, min_birth_year, max_birth_year);
    if (ids_.insert(id).second) return id;
  }
}

std::string IdentityFactory::mobile() {
  for (;;) {
    std::string m(kMobilePrefixes[rng_.below(std::size(kMobilePrefixes))]);
    for (int i = 0; i < 8; ++i) m += static_cast<char>('0' + rng_.below(10));
    if (mobiles_.insert(m).second) return m;
  }
}

std::string IdentityFactory::chinese_name() {
  return random_chinese_name(rng_);
}

std::string IdentityFactory::uscc() {
  // 9 = registered with market regulation, 1 = enterprise; then a Shanghai
  // county code and a 9-character entity code.
  std::string code = "91";
  code += kRegionCodes[rng_.below(16)];
  for (int i = 0; i < 9; ++i) code += kUsccCharset[rng_.below(kUsccCharset.size())];
  code += uscc_check_char(code);
  return code;
}

std::string IdentityFactory::unionpay_card() {
  std::string pan = "62";
  for (int i = 0; i < 13; ++i) pan += static_cast<char>('0' + rng_.below(10));
  pan += luhn_check_digit(pan);
  return pan;
}

std::string IdentityFactory::shanghai_plate() {
  std::string plate = "沪";
  plate += kPlateLetters[rng_.below(kPlateLetters.size())];
  for (int i = 0; i < 5; ++i) plate += static_cast<char>('0' + rng_.below(10));
  return plate;
}

}  // namespace ftz::test::gen
