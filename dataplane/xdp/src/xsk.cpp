#include "xsk.hpp"

#include <linux/if_link.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace ftz::xdp {

namespace {

constexpr uint32_t kFillRing = 4096;
constexpr uint32_t kCompRing = 2048;
constexpr uint32_t kRxRing = 2048;
constexpr uint32_t kTxRing = 2048;
// Frames kept back from the fill ring for transmit(): forwarding must not
// starve because every free frame waits for a packet to arrive.
constexpr size_t kTxReserve = 1024;

std::string error_text(const std::string& what, int err) {
  return what + ": " + std::strerror(err < 0 ? -err : err);
}

}  // namespace

tl::expected<std::unique_ptr<XskSocket>, std::string> XskSocket::open(const std::string& ifname,
                                                                      uint32_t queue, uint32_t xdp_flags) {
  std::unique_ptr<XskSocket> s(new XskSocket());
  const std::string what = "AF_XDP socket on " + ifname + " queue " + std::to_string(queue);
  const size_t bytes = size_t{kFrames} * kFrameSize;
  s->area_ = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (s->area_ == MAP_FAILED) {
    s->area_ = nullptr;
    return tl::unexpected(error_text(what + ": UMEM", errno));
  }
  xsk_umem_config ucfg{};
  ucfg.fill_size = kFillRing;
  ucfg.comp_size = kCompRing;
  ucfg.frame_size = kFrameSize;
  ucfg.frame_headroom = 0;
  if (const int err = xsk_umem__create(&s->umem_, s->area_, bytes, &s->fill_, &s->comp_, &ucfg); err != 0) {
    return tl::unexpected(error_text(what + ": UMEM", err));
  }
  xsk_socket_config cfg{};
  cfg.rx_size = kRxRing;
  cfg.tx_size = kTxRing;
  // ftzgate-xdp loads its own program and binds sockets into its map.
  cfg.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD;
  cfg.xdp_flags = xdp_flags;
  cfg.bind_flags = XDP_COPY | XDP_USE_NEED_WAKEUP;
  if (const int err = xsk_socket__create(&s->xsk_, ifname.c_str(), queue, s->umem_, &s->rx_, &s->tx_, &cfg);
      err != 0) {
    return tl::unexpected(error_text(what, err));
  }
  s->end_.assign(kFrames, 0);
  s->free_.reserve(kFrames);
  for (uint32_t i = kFrames; i > 0; --i) s->free_.push_back(uint64_t{i - 1} * kFrameSize);
  s->refill();
  return s;
}

XskSocket::~XskSocket() {
  if (xsk_ != nullptr) xsk_socket__delete(xsk_);
  if (umem_ != nullptr) xsk_umem__delete(umem_);
  if (area_ != nullptr) munmap(area_, size_t{kFrames} * kFrameSize);
}

int XskSocket::fd() const noexcept {
  return xsk_socket__fd(xsk_);
}

uint64_t XskSocket::kernel_drops() const noexcept {
  xdp_statistics st{};
  socklen_t len = sizeof st;
  if (getsockopt(fd(), SOL_XDP, XDP_STATISTICS, &st, &len) != 0) return 0;
  return st.rx_dropped + st.rx_ring_full + st.rx_invalid_descs;
}

uint32_t XskSocket::receive(std::span<Frame> out) noexcept {
  uint32_t idx = 0;
  const uint32_t n = xsk_ring_cons__peek(&rx_, static_cast<uint32_t>(out.size()), &idx);
  for (uint32_t i = 0; i < n; ++i) {
    const xdp_desc* d = xsk_ring_cons__rx_desc(&rx_, idx + i);
    out[i].addr = xsk_umem__extract_addr(d->addr);
    out[i].data = static_cast<const uint8_t*>(xsk_umem__get_data(area_, d->addr));
    out[i].len = d->len;
    end_[out[i].addr / kFrameSize] = static_cast<uint32_t>(out[i].addr % kFrameSize) + d->len;
  }
  if (n > 0) xsk_ring_cons__release(&rx_, n);
  counters_.rx += n;
  return n;
}

std::span<uint8_t> XskSocket::frame(uint64_t addr) noexcept {
  return {static_cast<uint8_t*>(xsk_umem__get_data(area_, addr)),
          end_[addr / kFrameSize] - static_cast<uint32_t>(addr % kFrameSize)};
}

void XskSocket::recycle(uint64_t addr) noexcept {
  free_.push_back(addr - addr % kFrameSize);
}

bool XskSocket::transmit(std::span<const uint8_t> head, std::span<const uint8_t> bytes) noexcept {
  if (head.size() + bytes.size() > kFrameSize) {
    ++counters_.tx_too_long;
    return false;
  }
  uint32_t idx = 0;
  if (free_.empty() || xsk_ring_prod__reserve(&tx_, 1, &idx) != 1) {
    ++counters_.tx_no_frame;
    return false;
  }
  const uint64_t addr = free_.back();
  free_.pop_back();
  auto* to = static_cast<uint8_t*>(xsk_umem__get_data(area_, addr));
  if (!head.empty()) std::memcpy(to, head.data(), head.size());
  std::memcpy(to + head.size(), bytes.data(), bytes.size());
  xdp_desc* d = xsk_ring_prod__tx_desc(&tx_, idx);
  d->addr = addr;
  d->len = static_cast<uint32_t>(head.size() + bytes.size());
  xsk_ring_prod__submit(&tx_, 1);
  ++tx_pending_;
  ++counters_.tx;
  return true;
}

void XskSocket::flush() noexcept {
  if (tx_pending_ > 0 || xsk_ring_prod__needs_wakeup(&tx_)) {
    // Copy mode sends on this call; EAGAIN/EBUSY: the kernel is busy, the
    // frames stay queued for the next one.
    sendto(fd(), nullptr, 0, MSG_DONTWAIT, nullptr, 0);
    tx_pending_ = 0;
  }
  uint32_t idx = 0;
  const uint32_t done = xsk_ring_cons__peek(&comp_, kCompRing, &idx);
  for (uint32_t i = 0; i < done; ++i) free_.push_back(*xsk_ring_cons__comp_addr(&comp_, idx + i));
  if (done > 0) xsk_ring_cons__release(&comp_, done);
  refill();
}

void XskSocket::refill() noexcept {
  if (free_.size() <= kTxReserve) return;
  const auto want = static_cast<uint32_t>(free_.size() - kTxReserve);
  uint32_t idx = 0;
  const uint32_t n = xsk_ring_prod__reserve(&fill_, std::min(want, xsk_prod_nb_free(&fill_, want)), &idx);
  for (uint32_t i = 0; i < n; ++i) {
    *xsk_ring_prod__fill_addr(&fill_, idx + i) = free_.back();
    free_.pop_back();
  }
  if (n > 0) xsk_ring_prod__submit(&fill_, n);
  if (xsk_ring_prod__needs_wakeup(&fill_)) recvfrom(fd(), nullptr, 0, MSG_DONTWAIT, nullptr, nullptr);
}

}  // namespace ftz::xdp
