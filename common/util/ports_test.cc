#include "common/util/ports.h"

#include <gtest/gtest.h>

namespace ssd {
namespace {

TEST(PortsTest, AListenerHoldsItsPortUntilItIsDestroyed) {
  int port = 0;
  {
    absl::StatusOr<LoopbackListener> l = LoopbackListener::Open();
    ASSERT_TRUE(l.ok()) << l.status();
    port = l->port();
    EXPECT_GT(port, 0);
    EXPECT_FALSE(PortIsFree(port)) << "a listening port cannot be bound again";
    LoopbackListener moved = std::move(*l);
    EXPECT_EQ(moved.port(), port);
    EXPECT_FALSE(PortIsFree(port)) << "moving the listener keeps the socket open";
  }
  EXPECT_TRUE(PortIsFree(port));
}

TEST(PortsTest, APickedPortIsFreeToBind) {
  absl::StatusOr<int> port = PickFreePort();
  ASSERT_TRUE(port.ok()) << port.status();
  EXPECT_GT(*port, 0);
  EXPECT_LE(*port, 65535);
  EXPECT_TRUE(PortIsFree(*port));
}

}  // namespace
}  // namespace ssd
