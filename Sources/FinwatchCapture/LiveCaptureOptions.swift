/// How a live capture is opened. Defaults: headers only (256 bytes), a 32 MiB kernel buffer,
/// block delivery (TPACKET_V3) with a 100 ms buffer timeout, not promiscuous.
package struct LiveCaptureOptions: Sendable, Equatable {
    package var interface: String
    /// Bytes kept per frame: enough for link, IP (with options) and TCP headers.
    package var snapshotLength: Int32
    /// The kernel ring for this capture; bigger rides out longer bursts before drops.
    package var bufferSize: Int32
    /// Deliver each frame at once instead of when a kernel block fills. Off: one wakeup per block
    /// of frames, not per few frames (immediate mode cost the live path seven times the offline
    /// path's CPU per packet).
    package var immediateMode: Bool
    /// How long a kernel block that is not full waits before it is handed over anyway: the most a
    /// frame is held back on a quiet link (events within ~0.25 s with the loop's own tick).
    package var bufferTimeoutMilliseconds: Int32
    package var promiscuous: Bool

    package init(interface: String = "any", snapshotLength: Int32 = 256, bufferSize: Int32 = 32 << 20,
                 immediateMode: Bool = false, bufferTimeoutMilliseconds: Int32 = 100, promiscuous: Bool = false) {
        self.interface = interface
        self.snapshotLength = snapshotLength
        self.bufferSize = bufferSize
        self.immediateMode = immediateMode
        self.bufferTimeoutMilliseconds = bufferTimeoutMilliseconds
        self.promiscuous = promiscuous
    }
}
