/// libpcap's counters for a live capture (`pcap_stats`), widened to 64 bits. libpcap keeps them
/// in 32-bit `u_int`s that wrap on a busy link; `PcapHandle.statistics()` accumulates the
/// wrapping differences so these only grow.
package struct CaptureStatistics: Sendable, Equatable {
    /// Packets the kernel handed to the capture (ps_recv).
    package var received: UInt64
    /// Packets dropped because the capture buffer was full (ps_drop).
    package var droppedByKernel: UInt64
    /// Packets the interface or its driver dropped (ps_ifdrop).
    package var droppedByInterface: UInt64

    package init(received: UInt64 = 0, droppedByKernel: UInt64 = 0, droppedByInterface: UInt64 = 0) {
        self.received = received
        self.droppedByKernel = droppedByKernel
        self.droppedByInterface = droppedByInterface
    }
}
