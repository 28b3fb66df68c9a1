/// How a live capture is opened. Defaults: headers only (256 bytes), a 32 MiB kernel buffer,
/// immediate delivery, not promiscuous.
package struct LiveCaptureOptions: Sendable, Equatable {
    package var interface: String
    /// Bytes kept per frame: enough for link, IP (with options) and TCP headers.
    package var snapshotLength: Int32
    /// The kernel ring for this capture; bigger rides out longer bursts before drops.
    package var bufferSize: Int32
    /// Deliver each frame at once instead of when a kernel block fills.
    package var immediateMode: Bool
    package var promiscuous: Bool

    package init(interface: String = "any", snapshotLength: Int32 = 256, bufferSize: Int32 = 32 << 20,
                 immediateMode: Bool = true, promiscuous: Bool = false) {
        self.interface = interface
        self.snapshotLength = snapshotLength
        self.bufferSize = bufferSize
        self.immediateMode = immediateMode
        self.promiscuous = promiscuous
    }
}
