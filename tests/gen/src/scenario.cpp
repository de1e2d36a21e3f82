#include "ftz/test/gen/scenario.hpp"

#include <cstdio>
#include <functional>
#include <set>

#include "ftz/test/app_payloads.hpp"
#include "ftz/test/gen/http.hpp"
#include "ftz/test/gen/identifiers.hpp"
#include "ftz/test/gen/json_writer.hpp"
#include "ftz/test/packet_builder.hpp"
#include "ftz/test/pcap_writer.hpp"

namespace ftz::test::gen {

namespace {

constexpr std::uint64_t kMs = 1'000'000ull;
constexpr std::uint64_t kSec = 1'000'000'000ull;

// Addresses of SCENARIO.md ("Addresses and names used in the example captures").
const Ipv4Addr kPacreHost = Ipv4Addr::parse("10.60.2.11");
const Ipv4Addr kAutoHost = Ipv4Addr::parse("10.60.1.21");
const Ipv4Addr kBiogenHost = Ipv4Addr::parse("10.60.3.14");
const Ipv4Addr kHarborHost = Ipv4Addr::parse("10.60.4.12");
const Ipv4Addr kUnregisteredHost = Ipv4Addr::parse("10.60.9.23");
const Ipv4Addr kPacreHq = Ipv4Addr::parse("203.0.113.10");
const Ipv4Addr kAutoHq = Ipv4Addr::parse("203.0.113.20");
const Ipv4Addr kOffshoreCloud = Ipv4Addr::parse("203.0.113.30");
const Ipv4Addr kHarborPartner = Ipv4Addr::parse("203.0.113.40");
const Ipv4Addr kHarborHk = Ipv4Addr::parse("198.51.100.10");
const Ipv4Addr kResolver = Ipv4Addr::parse("114.114.114.114");
// 101.224.0.0/13 (China Telecom Shanghai) is in shared/data/cn-ipv4.txt: a
// domestic destination that the header stage must fast-path.
const Ipv4Addr kDomesticWeb = Ipv4Addr::parse("101.226.4.6");

constexpr std::string_view kPacreName = "upload.pacre-sg.example";
constexpr std::string_view kAutoName = "telemetry.lingang-auto.example";
constexpr std::string_view kCloudName = "storage.cloud-offshore.example";
constexpr std::string_view kHarborHkName = "edi.harbor-hk.example";
constexpr std::string_view kPartnerName = "partner.harbor-offshore.example";
constexpr std::string_view kDomesticName = "www.sh-portal.example";

// The appliance's inside port sees hosts talking to their default gateway.
const MacAddr kGatewayMac = MacAddr::parse("02:00:5e:00:10:01");

MacAddr host_mac(const Ipv4Addr& ip) {
  return MacAddr{{0x02, 0x60, ip.octets[0], ip.octets[1], ip.octets[2], ip.octets[3]}};
}

std::string fixed(double v, int decimals) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string local_time(std::uint64_t ts_ns) {
  // ISO 8601 at +08:00, millisecond precision.
  const std::uint64_t local = ts_ns + 8 * 3600 * kSec;
  const std::string date = http_date(local);  // "Mon, 02 Mar 2026 09:00:00 GMT"
  static constexpr std::string_view kMonths = "JanFebMarAprMayJunJulAugSepOctNovDec";
  const auto month = kMonths.find(date.substr(8, 3)) / 3 + 1;
  char buf[128];
  std::snprintf(buf, sizeof buf, "%s-%02zu-%sT%s.%03u+08:00", date.substr(12, 4).c_str(),
                static_cast<std::size_t>(month), date.substr(5, 2).c_str(), date.substr(17, 8).c_str(),
                static_cast<unsigned>(ts_ns / kMs % 1000));
  return buf;
}

struct Flow {
  std::string l4 = "tcp";
  Ipv4Addr src, dst;
  std::uint16_t sport = 0, dport = 0;
  std::size_t first_frame = 0, last_frame = 0;  // 1-based, as tshark numbers frames
  std::size_t packets = 0;
  std::uint64_t client_bytes = 0, server_bytes = 0;
  std::vector<SegmentRecord> segments;  // packet_index: 0-based in the capture

  std::size_t frame_of_client_byte(std::uint64_t offset) const {
    for (const auto& s : segments) {
      if (s.direction == Direction::kClientToServer && offset >= s.stream_begin && offset < s.stream_end) {
        return s.packet_index + 1;
      }
    }
    return 0;
  }
};

struct Request {
  std::string method, uri, content_type, transfer;
  std::size_t body_bytes = 0;
  std::size_t records = 0;
  std::size_t ids = 0;
};

struct DnsExchange {
  Ipv4Addr client;
  std::uint16_t sport = 0;
  std::string name;
  Ipv4Addr answer;
  std::size_t query_frame = 0, response_frame = 0;
};

// Appends conversations one after another on a single clock.
class CaptureBuilder {
 public:
  explicit CaptureBuilder(Rng& rng) : rng_(rng) {}

  // Moves the clock to 09:mm:ss local unless it is already later.
  void at(int minute, int second) {
    const std::uint64_t t =
        (static_cast<std::uint64_t>(kScenarioStartUnix) + static_cast<std::uint64_t>(minute * 60 + second)) *
            kSec +
        rng_.below(900) * kMs;
    if (t > clock_) clock_ = t;
  }

  std::uint16_t ephemeral_port() {
    for (;;) {
      const auto p = static_cast<std::uint16_t>(32768 + rng_.below(28232));  // Linux default range
      if (ports_.insert(p).second) return p;
    }
  }

  Flow tcp(const Ipv4Addr& client, const Ipv4Addr& server, std::uint16_t dport, std::uint64_t rtt_ns,
           const std::function<void(TcpSession&)>& talk) {
    TcpSessionConfig cfg;
    cfg.client_mac = host_mac(client);
    cfg.server_mac = kGatewayMac;
    cfg.client_ip = client;
    cfg.server_ip = server;
    cfg.client_port = ephemeral_port();
    cfg.server_port = dport;
    cfg.client_isn = static_cast<std::uint32_t>(rng_.next());
    cfg.server_isn = static_cast<std::uint32_t>(rng_.next());
    cfg.start_ns = clock_;
    cfg.rtt_ns = rtt_ns;
    TcpSession s(cfg);
    s.handshake();
    talk(s);
    s.close();

    Flow f;
    f.src = client;
    f.dst = server;
    f.sport = cfg.client_port;
    f.dport = dport;
    f.first_frame = packets_.size() + 1;
    f.packets = s.packet_count();
    f.client_bytes = s.stream_bytes(Direction::kClientToServer);
    f.server_bytes = s.stream_bytes(Direction::kServerToClient);
    f.segments = s.segments();
    for (auto& seg : f.segments) seg.packet_index += packets_.size();
    for (auto& p : s.take_packets()) packets_.push_back(std::move(p));
    f.last_frame = packets_.size();
    clock_ = s.now_ns() + 40 * kMs + rng_.below(200) * kMs;
    return f;
  }

  DnsExchange dns(const Ipv4Addr& client, std::string_view name, const Ipv4Addr& answer) {
    DnsExchange d{client, ephemeral_port(), std::string(name), answer, 0, 0};
    const auto id = static_cast<std::uint16_t>(rng_.next());
    const auto ip_id = static_cast<std::uint16_t>(rng_.next());
    packets_.push_back({clock_, PacketBuilder()
                                    .eth(host_mac(client), kGatewayMac)
                                    .ipv4(client, kResolver)
                                    .ip_id(ip_id)
                                    .udp(d.sport, 53)
                                    .payload(dns_query(id, name))
                                    .build()});
    d.query_frame = packets_.size();
    clock_ += 4 * kMs + rng_.below(3000) * 1000;
    packets_.push_back({clock_, PacketBuilder()
                                    .eth(kGatewayMac, host_mac(client))
                                    .ipv4(kResolver, client)
                                    .ip_id(static_cast<std::uint16_t>(ip_id ^ 0x5a5a))
                                    .ttl(57)
                                    .udp(53, d.sport)
                                    .payload(dns_response(id, name, std::span(&answer, 1), 600))
                                    .build()});
    d.response_frame = packets_.size();
    clock_ += 2 * kMs;
    return d;
  }

  std::uint64_t clock() const { return clock_; }
  std::vector<CapturedPacket>& packets() { return packets_; }

 private:
  Rng& rng_;
  std::uint64_t clock_ = 0;
  std::set<std::uint16_t> ports_;
  std::vector<CapturedPacket> packets_;
};

// A request, think time at the server, then its response.
void exchange(TcpSession& s, const std::string& request, int status, std::string_view reason,
              std::string_view content_type, std::string_view response_body, std::uint64_t think_ns) {
  s.client_send(request);
  s.idle(think_ns);
  s.server_send(http_response(status, reason, content_type, response_body, s.now_ns()));
}

void write_flow(JsonWriter& j, const Flow& f, const std::vector<Request>& requests) {
  j.begin_object();
  j.field("l4", f.l4).field("src", f.src.to_string()).field("sport", unsigned{f.sport});
  j.field("dst", f.dst.to_string()).field("dport", unsigned{f.dport});
  j.field("first_frame", std::uint64_t{f.first_frame}).field("last_frame", std::uint64_t{f.last_frame});
  j.field("packets", std::uint64_t{f.packets});
  j.field("client_bytes", f.client_bytes).field("server_bytes", f.server_bytes);
  j.key("requests").begin_array();
  for (const auto& r : requests) {
    j.begin_object();
    j.field("method", r.method).field("uri", r.uri);
    if (!r.content_type.empty()) j.field("content_type", r.content_type);
    if (!r.transfer.empty()) j.field("transfer", r.transfer);
    j.field("body_bytes", std::uint64_t{r.body_bytes});
    if (r.records > 0) j.field("records", std::uint64_t{r.records});
    j.field("distinct_valid_ids", std::uint64_t{r.ids});
    j.end_object();
  }
  j.end_array();
  j.end_object();
}

void begin_item(JsonWriter& j, std::string_view id, std::string_view tenant, std::string_view prefix,
                std::string_view host, std::string_view dst_zone, std::string_view expected) {
  j.begin_object();
  j.field("id", id).field("tenant", tenant).field("tenant_prefix", prefix);
  if (!host.empty()) j.field("host", host);
  j.field("dst_zone", dst_zone).field("expected_outcome", expected);
}

std::string vcf_file(Rng& rng, int variants, int samples) {
  std::string v =
      "##fileformat=VCFv4.2\n##fileDate=20260302\n##source=BioGenLingangPipeline-v3.1\n"
      "##reference=GRCh38\n"
      "##INFO=<ID=DP,Number=1,Type=Integer,Description=\"Total Depth\">\n"
      "##INFO=<ID=AF,Number=A,Type=Float,Description=\"Allele Frequency\">\n"
      "##FILTER=<ID=q10,Description=\"Quality below 10\">\n"
      "##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">\n"
      "##FORMAT=<ID=DP,Number=1,Type=Integer,Description=\"Read Depth\">\n"
      "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT";
  for (int s = 1; s <= samples; ++s) {
    char name[16];
    std::snprintf(name, sizeof name, "\tLG%04d", s);
    v += name;
  }
  v += '\n';
  static constexpr char kBases[] = {'A', 'C', 'G', 'T'};
  static constexpr const char* kGenotypes[] = {"0/0", "0/1", "1/1", "0|1", "1|0"};
  int prev_chrom = 0;
  int in_chrom = 0;  // index within the chromosome: keeps POS ascending (sorted VCF)
  for (int i = 0; i < variants; ++i) {
    const int chrom = 1 + i * 22 / variants;
    in_chrom = chrom == prev_chrom ? in_chrom + 1 : 0;
    prev_chrom = chrom;
    const int pos = 10000 + in_chrom * 1'500'000 + static_cast<int>(rng.below(1'000'000));
    const std::size_t ref_index = rng.below(4);
    const char ref = kBases[ref_index];
    const char alt = kBases[(ref_index + 1 + rng.below(3)) % 4];  // never equal to REF
    const int depth = 20 + static_cast<int>(rng.below(200));
    const std::string rs = std::to_string(10000 + rng.below(90'000'000));
    const std::string qual = std::to_string(30 + rng.below(70));
    const std::string af = fixed(static_cast<double>(rng.below(1000)) / 1000.0, 3);
    v += std::to_string(chrom) + "\t" + std::to_string(pos) + "\trs" + rs + "\t" + ref + "\t" + alt + "\t" +
         qual + "\tPASS\tDP=" + std::to_string(depth) + ";AF=" + af + "\tGT:DP";
    for (int s = 0; s < samples; ++s) {
      v += "\t";
      v += kGenotypes[rng.below(5)];
      v += ':';
      v += std::to_string(8 + rng.below(60));
    }
    v += '\n';
  }
  return v;
}

std::string bill_of_lading(Rng& rng, int serial) {
  static constexpr const char* kGoods[][2] = {{"85423100", "integrated circuits, processors"},
                                              {"87083099", "brake parts for motor vehicles"},
                                              {"84715000", "processing units for computers"},
                                              {"90189099", "medical instruments, non-electric"}};
  char bill[24];
  std::snprintf(bill, sizeof bill, "HLSH260302%04d", serial);
  std::string j = std::string("{\"bill_no\":\"") + bill +
                  "\",\"shipper\":{\"company\":\"Harbor Logistics (Shanghai) Co., Ltd.\","
                  "\"address\":\"Lin-gang Special Area, Shanghai FTZ\"},"
                  "\"consignee\":{\"company\":\"Kowloon Pacific Trading Ltd.\","
                  "\"address\":\"Kwai Chung Container Terminal 9, Hong Kong\"},"
                  "\"notify_party\":\"same as consignee\",\"vessel\":\"MV LINGANG STAR\","
                  "\"voyage\":\"2609E\",\"port_of_loading\":\"CNSHA\",\"port_of_discharge\":\"HKHKG\","
                  "\"containers\":[";
  const int containers = 2 + static_cast<int>(rng.below(4));
  for (int c = 0; c < containers; ++c) {
    const auto& g = kGoods[rng.below(4)];
    char no[16];
    std::snprintf(no, sizeof no, "HLXU%07u", static_cast<unsigned>(rng.below(10'000'000)));
    if (c > 0) j += ",";
    const std::string seal = std::to_string(1000000 + rng.below(8999999));
    const std::string gross = fixed(8000.0 + static_cast<double>(rng.below(150000)) / 10.0, 1);
    const std::string packages = std::to_string(100 + rng.below(900));
    j += std::string("{\"no\":\"") + no + "\",\"type\":\"40HC\",\"seal\":\"SH" + seal +
         "\",\"gross_kg\":" + gross + ",\"packages\":" + packages + ",\"hs_code\":\"" + g[0] +
         "\",\"description\":\"" + g[1] + "\"}";
  }
  j += "],\"freight\":\"prepaid\",\"incoterm\":\"FOB\",\"issued\":\"2026-03-02\"}";
  return j;
}

}  // namespace

Scenario build_scenario(std::uint64_t seed) {
  Rng rng(seed);
  IdentityFactory people(seed ^ 0x1d5eedull);
  CaptureBuilder cap(rng);
  JsonWriter j;
  std::vector<DnsExchange> dns;
  const Direction c2s = Direction::kClientToServer;

  j.begin_object();
  j.field("generator", "ftzgate-gen scenario").field("seed", seed);
  j.field("scenario", "shared/SCENARIO.md (Lin-gang FTZ data center)");
  j.field("format", "classic pcap, nanosecond timestamps, linktype EN10MB");
  j.field("capture_start_local", "2026-03-02T09:00:00+08:00");
  j.field("timezone", "Asia/Shanghai (UTC+08:00)");
  j.field("frames", "1-based, as tshark numbers them");
  j.key("items").begin_array();

  // --- Pacific Reinsurance: policyholder CSVs to Singapore HQ --------------
  {
    cap.at(0, 0);
    dns.push_back(cap.dns(kPacreHost, kPacreName, kPacreHq));
    std::set<std::string> ids, mobiles;
    std::vector<Flow> flows;
    std::vector<std::vector<Request>> reqs;
    std::size_t records = 0;
    const std::size_t rows_per_post[] = {1800, 1700, 1700, 1650, 1650};
    for (std::size_t i = 0; i < std::size(rows_per_post); ++i) {
      cap.at(0, 1 + 20 * static_cast<int>(i));
      std::string body = "name,mobile,id_number\n";
      for (std::size_t r = 0; r < rows_per_post[i]; ++r) {
        const std::string id = people.resident_id(1950, 2005);
        const std::string mobile = people.mobile();
        body += people.chinese_name() + "," + mobile + "," + id + "\n";
        ids.insert(id);
        mobiles.insert(mobile);
      }
      records += rows_per_post[i];
      // Batches 2 and 4 are streamed by the client: chunk boundaries fall
      // anywhere, including inside an ID number, which the HTTP decoder must undo.
      const bool chunked = i == 1 || i == 3;
      const auto chunks =
          chunked ? random_chunk_sizes(rng, body.size(), 2048, 8192) : std::vector<std::size_t>{};
      const std::string uri =
          "/api/v2/policyholders/batch?filing=SCC-SH-2026-0142&seq=" + std::to_string(i + 1);
      const std::string request = http_request("POST", uri, kPacreName,
                                               {{"User-Agent", "PacRe-Sync/2.3 (Linux x86_64)"},
                                                {"Accept", "application/json"},
                                                {"Content-Type", "text/csv; charset=utf-8"},
                                                {"X-Batch-Id", "PR-20260302-0" + std::to_string(i + 1)}},
                                               body, chunks);
      const std::string reply = "{\"status\":\"stored\",\"rows\":" + std::to_string(rows_per_post[i]) + "}";
      flows.push_back(cap.tcp(kPacreHost, kPacreHq, 80, 38 * kMs, [&](TcpSession& s) {
        exchange(s, request, 201, "Created", "application/json", reply, 120 * kMs);
      }));
      reqs.push_back({{"POST", uri, "text/csv", chunked ? "chunked" : "content-length", body.size(),
                       rows_per_post[i], rows_per_post[i]}});
    }
    begin_item(j, "pacific_re_policyholders", "Pacific Reinsurance (Shanghai) Co.", "10.60.2.0/24",
               kPacreName, "offshore",
               "route via the approved channel (filing SCC-SH-2026-0142); no alert; individuals "
               "counted; crosses 80% of the 10,000 sensitive-PI line");
    j.key("flows").begin_array();
    for (std::size_t i = 0; i < flows.size(); ++i) write_flow(j, flows[i], reqs[i]);
    j.end_array();
    j.field("records", std::uint64_t{records});
    j.field("distinct_valid_ids", std::uint64_t{ids.size()});
    j.field("distinct_valid_mobiles", std::uint64_t{mobiles.size()});
    j.field("distinct_names_note", "names repeat across people; count by ID");
    j.end_object();
  }

  // --- Lingang Auto Tech: telemetry (allowed) and one trajectory (blocked) --
  {
    cap.at(2, 0);
    dns.push_back(cap.dns(kAutoHost, kAutoName, kAutoHq));
    std::vector<Flow> flows;
    std::vector<std::vector<Request>> reqs;
    int seq = 0;
    for (int session = 0; session < 2; ++session) {
      cap.at(2, 1 + 40 * session);
      std::vector<Request> rs;
      flows.push_back(cap.tcp(kAutoHost, kAutoHq, 80, 210 * kMs, [&](TcpSession& s) {
        for (int r = 0; r < 3; ++r) {
          std::string body = "{\"vehicle_model\":\"LGA-EV7\",\"fw\":\"4.2.1\",\"samples\":[";
          for (int k = 0; k < 10; ++k) {
            if (k > 0) body += ",";
            // Every random draw in its own statement: the order of operands of
            // '+' is unspecified, and the capture must not depend on the compiler.
            ++seq;
            const std::string ts = local_time(s.now_ns() + static_cast<std::uint64_t>(k) * kSec);
            const std::string speed = fixed(30.0 + static_cast<double>(rng.below(600)) / 10.0, 1);
            const std::string soc = std::to_string(60 + rng.below(35));
            const std::string temp = fixed(25.0 + static_cast<double>(rng.below(150)) / 10.0, 1);
            const std::string rpm = std::to_string(2000 + rng.below(6000));
            body += "{\"seq\":" + std::to_string(seq) + ",\"ts\":\"" + ts + "\",\"speed_kmh\":" + speed +
                    ",\"battery_soc_pct\":" + soc + ",\"battery_temp_c\":" + temp + ",\"motor_rpm\":" + rpm +
                    ",\"odometer_km\":" + fixed(18234.0 + seq * 0.3, 1) +
                    ",\"tire_kpa\":[236,238,235,237],\"alerts\":[]}";
          }
          body += "]}";
          const std::string uri = "/v1/telemetry";
          exchange(
              s,
              http_request("POST", uri, kAutoName,
                           {{"User-Agent", "lga-tbox/4.2.1"}, {"Content-Type", "application/json"}}, body),
              204, "No Content", "application/json", "", 30 * kMs);
          s.idle(5 * kSec);
          rs.push_back({"POST", uri, "application/json", "content-length", body.size(), 10, 0});
        }
      }));
      reqs.push_back(std::move(rs));
    }
    begin_item(j, "lingang_auto_telemetry", "Lingang Auto Tech", "10.60.1.0/24", kAutoName, "offshore",
               "allow (ftz_list_exempt: vehicle telemetry without PI)");
    j.key("flows").begin_array();
    for (std::size_t i = 0; i < flows.size(); ++i) write_flow(j, flows[i], reqs[i]);
    j.end_array();
    j.field("distinct_valid_ids", std::uint64_t{0});
    j.end_object();

    // The trajectory: precise coordinates with timestamps + a plate.
    cap.at(4, 0);
    const std::string plate = people.shanghai_plate();
    const int kPoints = 24;
    std::string body = "{\"trip_id\":\"LGA-TRIP-0302-0042\",\"vehicle_model\":\"LGA-EV7\",\"plate\":\"" +
                       plate + "\",\"coord_sys\":\"WGS84\",\"points\":[";
    // Starts in Lin-gang (Dishui Lake) and drives north-west, staying in Shanghai.
    double lat = 30.899412, lon = 121.928706;
    const std::uint64_t trip_start = cap.clock() - 6 * 60 * kSec;
    for (int p = 0; p < kPoints; ++p) {
      if (p > 0) body += ",";
      const std::string speed = fixed(40.0 + static_cast<double>(rng.below(400)) / 10.0, 1);
      body += "{\"lat\":" + fixed(lat, 6) + ",\"lon\":" + fixed(lon, 6) + ",\"ts\":\"" +
              local_time(trip_start + static_cast<std::uint64_t>(p) * 15 * kSec) +
              "\",\"speed_kmh\":" + speed + "}";
      lat += 0.0019 + static_cast<double>(rng.below(600)) / 1e6;
      lon -= 0.0031;
      lon -= static_cast<double>(rng.below(800)) / 1e6;
    }
    body += "]}";
    const std::string uri = "/v1/trips/upload";
    Flow f = cap.tcp(kAutoHost, kAutoHq, 80, 210 * kMs, [&](TcpSession& s) {
      exchange(s,
               http_request("POST", uri, kAutoName,
                            {{"User-Agent", "lga-tbox/4.2.1"}, {"Content-Type", "application/json"}}, body),
               200, "OK", "application/json", "{\"status\":\"ok\"}", 60 * kMs);
    });
    begin_item(j, "lingang_auto_trajectory", "Lingang Auto Tech", "10.60.1.0/24", kAutoName, "offshore",
               "block with alert (trajectory + plate: sensitive PI not covered by the exemption)");
    j.key("flows").begin_array();
    write_flow(j, f, {{"POST", uri, "application/json", "content-length", body.size(), 1, 0}});
    j.end_array();
    j.field("trajectory_points", kPoints).field("coordinate_decimals", 6).field("plate", plate);
    j.field("distinct_valid_ids", std::uint64_t{0});
    j.end_object();
  }

  // --- BioGen: multipart VCF upload to offshore cloud (blocked) -------------
  {
    cap.at(5, 0);
    dns.push_back(cap.dns(kBiogenHost, kCloudName, kOffshoreCloud));
    const int kVariants = 200, kSamples = 8;
    const std::string vcf = vcf_file(rng, kVariants, kSamples);
    const std::string boundary = "----BioGenUpload7MA4YWxkTrZu0gW";
    const std::string body =
        "--" + boundary +
        "\r\nContent-Disposition: form-data; name=\"project\"\r\n\r\nLG-COHORT-2026-03\r\n--" + boundary +
        "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"lg_cohort_2026q1.vcf\""
        "\r\nContent-Type: text/plain\r\n\r\n" +
        vcf + "\r\n--" + boundary + "--\r\n";
    const std::string uri = "/v1/buckets/biogen-share/objects";
    Flow f = cap.tcp(kBiogenHost, kOffshoreCloud, 80, 120 * kMs, [&](TcpSession& s) {
      exchange(s,
               http_request("POST", uri, kCloudName,
                            {{"User-Agent", "curl/7.88.1"},
                             {"Accept", "*/*"},
                             {"Content-Type", "multipart/form-data; boundary=" + boundary}},
                            body),
               201, "Created", "application/json", "{\"object\":\"lg_cohort_2026q1.vcf\"}", 200 * kMs);
    });
    begin_item(j, "biogen_vcf_upload", "BioGen Lingang Ltd.", "10.60.3.0/24", kCloudName, "offshore",
               "block (genomic data: sensitive PI + human genetic resources, no approval); RST; alert");
    j.key("flows").begin_array();
    write_flow(j, f, {{"POST", uri, "multipart/form-data", "content-length", body.size(), 0, 0}});
    j.end_array();
    j.field("vcf_bytes", std::uint64_t{vcf.size()})
        .field("vcf_variant_lines", kVariants)
        .field("vcf_samples", kSamples);
    j.field("distinct_valid_ids", std::uint64_t{0});
    j.end_object();
  }

  // --- Harbor Logistics: B/L API to Hong Kong, TLS to an offshore partner ---
  {
    cap.at(6, 0);
    dns.push_back(cap.dns(kHarborHost, kHarborHkName, kHarborHk));
    std::vector<Request> rs;
    Flow edi = cap.tcp(kHarborHost, kHarborHk, 80, 28 * kMs, [&](TcpSession& s) {
      const std::string get_uri = "/api/v2/bills/HLSH2603020117";
      exchange(s,
               http_request("GET", get_uri, kHarborHkName,
                            {{"User-Agent", "harbor-edi/1.8"}, {"Accept", "application/json"}}, ""),
               200, "OK", "application/json", bill_of_lading(rng, 117), 15 * kMs);
      rs.push_back({"GET", get_uri, "", "", 0, 0, 0});
      s.idle(800 * kMs);
      const std::string post_uri = "/api/v2/bills";
      const std::string bl = bill_of_lading(rng, 118);
      exchange(s,
               http_request("POST", post_uri, kHarborHkName,
                            {{"User-Agent", "harbor-edi/1.8"}, {"Content-Type", "application/json"}}, bl),
               201, "Created", "application/json", "{\"status\":\"accepted\",\"bill_no\":\"HLSH2603020118\"}",
               25 * kMs);
      rs.push_back({"POST", post_uri, "application/json", "content-length", bl.size(), 1, 0});
      s.idle(500 * kMs);
      const std::string sched_uri = "/api/v2/vessels/MV-LINGANG-STAR/schedule";
      exchange(s,
               http_request("GET", sched_uri, kHarborHkName,
                            {{"User-Agent", "harbor-edi/1.8"}, {"Accept", "application/json"}}, ""),
               200, "OK", "application/json",
               "{\"vessel\":\"MV LINGANG STAR\",\"voyage\":\"2609E\",\"etd\":\"2026-03-03T18:00+08:00\","
               "\"eta\":\"2026-03-05T07:00+08:00\",\"berth\":\"Yangshan Phase IV\"}",
               10 * kMs);
      rs.push_back({"GET", sched_uri, "", "", 0, 0, 0});
    });
    begin_item(j, "harbor_edi_hk", "Harbor Logistics", "10.60.4.0/24", kHarborHkName, "hk",
               "allow (scenario exemption E1: trade data, no PI)");
    j.key("flows").begin_array();
    write_flow(j, edi, rs);
    j.end_array();
    j.field("distinct_valid_ids", std::uint64_t{0});
    j.end_object();

    cap.at(6, 30);
    dns.push_back(cap.dns(kHarborHost, kPartnerName, kHarborPartner));
    TlsClientHelloSpec hello;
    hello.sni = std::string(kPartnerName);
    rng.fill(hello.random);
    rng.fill(hello.session_id);
    rng.fill(hello.x25519_key);
    std::array<std::uint8_t, 32> server_random{}, server_key{};
    rng.fill(server_random);
    rng.fill(server_key);
    auto opaque = [&](std::size_t n) {
      Bytes b(n);
      rng.fill(b);
      return tls_record(kTlsApplicationData, b);
    };
    std::size_t app_records = 0;
    Flow tls = cap.tcp(kHarborHost, kHarborPartner, 443, 180 * kMs, [&](TcpSession& s) {
      s.send(c2s, tls_client_hello(hello));
      Bytes flight = tls13_server_hello(server_random, hello.session_id, server_key);
      const Bytes ccs = tls_record(kTlsChangeCipherSpec, Bytes{0x01});
      put_bytes(flight, ccs);
      // EncryptedExtensions + Certificate + CertificateVerify + Finished.
      put_bytes(flight, opaque(2800 + rng.below(600)));
      s.idle(20 * kMs);
      s.send(Direction::kServerToClient, flight);
      Bytes fin = ccs;
      put_bytes(fin, opaque(53));
      s.send(c2s, fin);
      for (int round = 0; round < 3; ++round) {
        s.send(c2s, opaque(300 + rng.below(1200)));
        s.idle(40 * kMs);
        Bytes resp = opaque(16384 + 17);
        put_bytes(resp, opaque(2000 + rng.below(6000)));
        s.send(Direction::kServerToClient, resp);
        app_records += 3;
        s.idle(1 * kSec);
      }
      s.send(c2s, opaque(19));  // encrypted close_notify alert
      app_records += 1;
    });
    begin_item(j, "harbor_tls_partner", "Harbor Logistics", "10.60.4.0/24", kPartnerName, "offshore",
               "allow; judged by zone, tenant and SNI (no plaintext to inspect)");
    j.key("flows").begin_array();
    write_flow(j, tls, {});
    j.end_array();
    j.field("tls_sni", kPartnerName).field("tls_alpn_offered", "h2,http/1.1");
    j.field("tls_versions_offered", "TLS 1.3, TLS 1.2")
        .field("tls_application_data_records", std::uint64_t{app_records + 2});
    j.field("distinct_valid_ids", std::uint64_t{0});
    j.end_object();
  }

  // --- Domestic web server: header-stage fast path --------------------------
  {
    cap.at(7, 0);
    dns.push_back(cap.dns(kHarborHost, kDomesticName, kDomesticWeb));
    const std::string html =
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>上海门户</title></head>"
        "<body><h1>临港新片区 政务服务</h1><p>欢迎访问。办事指南、通知公告与政策解读。</p>" +
        std::string(1500, ' ') + "</body></html>\n";
    Flow f = cap.tcp(kHarborHost, kDomesticWeb, 80, 6 * kMs, [&](TcpSession& s) {
      exchange(s,
               http_request("GET", "/", kDomesticName,
                            {{"User-Agent", "Mozilla/5.0"}, {"Accept", "text/html"}}, ""),
               200, "OK", "text/html; charset=utf-8", html, 8 * kMs);
    });
    begin_item(j, "domestic_web", "Harbor Logistics", "10.60.4.0/24", kDomesticName, "domestic",
               "allow at the header stage (domestic destination, never inspected)");
    j.key("flows").begin_array();
    write_flow(j, f, {{"GET", "/", "", "", 0, 0, 0}});
    j.end_array();
    j.field("distinct_valid_ids", std::uint64_t{0});
    j.end_object();
  }

  // --- Unregistered host: 2,000 ID numbers to offshore (blocked) -------------
  {
    cap.at(8, 0);
    dns.push_back(cap.dns(kUnregisteredHost, kCloudName, kOffshoreCloud));
    std::string body = "{\"batch\":\"import-0302\",\"records\":[";
    std::vector<std::size_t> id_ends;  // body offset one past each ID
    std::set<std::string> ids;
    constexpr std::size_t kIds = 2000;
    for (std::size_t i = 0; i < kIds; ++i) {
      if (i > 0) body += ",";
      body += "{\"name\":\"" + people.chinese_name() + "\",\"id_number\":\"";
      const std::string id = people.resident_id(1955, 2004);
      body += id;
      id_ends.push_back(body.size());
      body += "\"}";
      ids.insert(id);
    }
    body += "]}";
    const std::string uri = "/v1/buckets/import/objects/records.json";
    const std::string request =
        http_request("POST", uri, kCloudName,
                     {{"User-Agent", "python-requests/2.31.0"}, {"Content-Type", "application/json"}}, body);
    const std::size_t head = http_head_length(request);
    std::uint64_t request_start = 0;
    Flow f = cap.tcp(kUnregisteredHost, kOffshoreCloud, 80, 120 * kMs, [&](TcpSession& s) {
      request_start = s.stream_bytes(c2s);
      exchange(s, request, 201, "Created", "application/json", "{\"status\":\"stored\"}", 150 * kMs);
    });
    begin_item(j, "unregistered_bulk_ids", "unregistered@lingang-ftz (default tenant)", "10.60.9.0/24",
               kCloudName, "offshore",
               "block at the packet that completes the 50th distinct confirmed ID; alert; reset");
    j.key("flows").begin_array();
    write_flow(j, f, {{"POST", uri, "application/json", "content-length", body.size(), kIds, ids.size()}});
    j.end_array();
    j.field("distinct_valid_ids", std::uint64_t{ids.size()});
    j.key("id_last_byte_frames").begin_object();
    for (std::size_t n : {1u, 50u, 2000u}) {
      j.field(std::to_string(n),
              std::uint64_t{f.frame_of_client_byte(request_start + head + id_ends[n - 1] - 1)});
    }
    j.end_object();
    j.field("id_last_byte_frames_note",
            "frame holding the last character of the n-th ID; its right boundary (the closing quote) "
            "follows in the same frame or the next");
    j.end_object();
  }

  // --- DNS to the domestic resolver (fast path) ------------------------------
  begin_item(j, "dns_domestic_resolver", "several tenants", "10.60.0.0/16", "", "domestic",
             "allow at the header stage (DNS to a domestic resolver)");
  j.key("queries").begin_array();
  for (const auto& d : dns) {
    j.begin_object();
    j.field("l4", "udp").field("src", d.client.to_string()).field("sport", unsigned{d.sport});
    j.field("dst", kResolver.to_string()).field("dport", 53u).field("name", d.name);
    j.field("answer", d.answer.to_string());
    j.field("query_frame", std::uint64_t{d.query_frame})
        .field("response_frame", std::uint64_t{d.response_frame});
    j.end_object();
  }
  j.end_array();
  j.field("distinct_valid_ids", std::uint64_t{0});
  j.end_object();

  j.end_array();
  j.field("packets", std::uint64_t{cap.packets().size()});
  j.end_object();

  return Scenario{std::move(cap.packets()), j.str()};
}

tl::expected<std::size_t, std::string> write_scenario(const std::string& out_path, std::uint64_t seed) {
  const Scenario s = build_scenario(seed);
  auto writer = PcapWriter::open(out_path, TimestampPrecision::kNano);
  if (!writer) return tl::unexpected(writer.error());
  for (const auto& p : s.packets) {
    if (!writer->write(p.ts_ns, p.frame)) return tl::unexpected(out_path + ": write failed");
  }
  if (auto closed = writer->close(); !closed) return tl::unexpected(closed.error());
  const std::string summary_path = out_path + ".summary.json";
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(summary_path.c_str(), "w"), &std::fclose);
  if (!f) return tl::unexpected(summary_path + ": cannot create");
  if (std::fwrite(s.summary_json.data(), 1, s.summary_json.size(), f.get()) != s.summary_json.size()) {
    return tl::unexpected(summary_path + ": write failed");
  }
  return s.packets.size();
}

}  // namespace ftz::test::gen
