import CPcap
import FinwatchCore
import Glibc
import Synchronization

/// Owns one activated `pcap_t` (a live interface or an open capture file).
///
/// Thread-safety invariant (why this is the one `@unchecked Sendable` type): the handle is
/// created on one thread and then used by exactly one capture thread at a time (dispatch,
/// statistics, filter). The only call that may come from another thread is `breakLoop()`:
/// libpcap documents `pcap_breakloop` as safe to call from another thread, and our own stop
/// flag beside it is an `Atomic`. Nothing else is ever called concurrently.
package final class PcapHandle: @unchecked Sendable {
    @usableFromInline let raw: OpaquePointer
    /// The interface name or file path, for messages.
    package let source: String
    @usableFromInline package let isLive: Bool
    /// `pcap_datalink`: the DLT_ number.
    package let datalink: Int32
    /// The link type finwatch decodes, or nil: frames are then counted as skipped.
    package let linkType: LinkType?
    /// libpcap's name for the link type ("EN10MB", "LINUX_SLL"), for the start event.
    package let linkTypeName: String
    /// Non-fatal things libpcap said while opening (PCAP_WARNING_*), for the log.
    package let warnings: [String]
    /// Multiplier from `pcap_pkthdr.ts.tv_usec` to nanoseconds: 1 when libpcap gave us
    /// nanosecond precision, 1000 when the platform refused it.
    @usableFromInline let subsecondScale: Int64
    /// File descriptor to poll for a live capture; -1 for files (always readable).
    private let selectableDescriptor: Int32
    private let stopRequested = Atomic<Bool>(false)
    private var lastRawStatistics: pcap_stat?
    private var totals = CaptureStatistics()

    /// Opens and activates a live capture (pcap_create … pcap_activate), non-blocking, with
    /// the settings of `options`.
    package init(live options: LiveCaptureOptions) throws(CaptureError) {
        var errorBuffer = ErrorBuffer()
        guard let created = pcap_create(options.interface, &errorBuffer.bytes) else {
            throw .activationFailed(interface: options.interface, message: errorBuffer.text)
        }
        // From here `created` must be closed on every failure path.
        var warnings: [String] = []
        _ = pcap_set_snaplen(created, options.snapshotLength)
        _ = pcap_set_buffer_size(created, options.bufferSize)
        _ = pcap_set_immediate_mode(created, options.immediateMode ? 1 : 0)
        _ = pcap_set_promisc(created, options.promiscuous ? 1 : 0)
        // TPACKET_V3's block retire timeout: a block that is not full is handed over after this.
        _ = pcap_set_timeout(created, options.bufferTimeoutMilliseconds)
        let nanoseconds = pcap_set_tstamp_precision(created, Int32(PCAP_TSTAMP_PRECISION_NANO)) == 0
        if !nanoseconds { warnings.append("nanosecond timestamps not supported here; using microseconds") }

        let status = pcap_activate(created)
        if status < 0 {
            let message = String(cString: pcap_geterr(created))
            pcap_close(created)
            throw Self.activationError(status, interface: options.interface, promiscuous: options.promiscuous,
                                       message: message)
        }
        if status > 0 { warnings.append(Self.warningText(status, handle: created)) }
        if pcap_setnonblock(created, 1, &errorBuffer.bytes) != 0 {
            let message = errorBuffer.text
            pcap_close(created)
            throw .activationFailed(interface: options.interface, message: message)
        }
        raw = created
        source = options.interface
        isLive = true
        subsecondScale = nanoseconds ? 1 : 1_000
        selectableDescriptor = pcap_get_selectable_fd(created)
        self.warnings = warnings
        datalink = pcap_datalink(created)
        linkType = LinkType(datalink: datalink)
        linkTypeName = Self.name(ofDatalink: datalink)
    }

    /// Opens a pcap or pcapng file. Existence and readability are checked by us (so the
    /// messages and exit statuses are exact); whether it is a capture is libpcap's call.
    package init(file path: String) throws(CaptureError) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        if descriptor < 0 {
            let code = errno
            if code == ENOENT || code == ENOTDIR { throw .fileNotFound(path) }
            throw .fileUnreadable(path: path, reason: String(cString: strerror(code)))
        }
        var info = stat()
        if fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
            close(descriptor)
            throw .fileUnreadable(path: path, reason: "it is a directory")
        }
        guard let stream = fdopen(descriptor, "rb") else {
            let code = errno
            close(descriptor)
            throw .fileUnreadable(path: path, reason: String(cString: strerror(code)))
        }
        // libpcap reads a file record by record through stdio: with glibc's default buffer (the
        // file system's 4 KiB block) that is one read(2) per ~40 packets. 1 MiB makes it one per
        // ~10,000: a tenth off the benchmark's time. stdio allocates and frees the buffer.
        _ = setvbuf(stream, nil, _IOFBF, 1 << 20)
        // Only the capture thread ever reads this stream, so stdio need not lock it for each of
        // the two freads per packet: 5% off finwatch's time, a quarter off a bare read loop's.
        _ = __fsetlocking(stream, Int32(FSETLOCKING_BYCALLER))
        var errorBuffer = ErrorBuffer()
        // On success libpcap owns `stream` and fcloses it in pcap_close; on failure it does not.
        guard let opened = pcap_fopen_offline_with_tstamp_precision(
            stream, UInt32(PCAP_TSTAMP_PRECISION_NANO), &errorBuffer.bytes)
        else {
            fclose(stream)
            throw .notACapture(path: path, message: errorBuffer.text)
        }
        raw = opened
        source = path
        isLive = false
        subsecondScale = 1
        selectableDescriptor = -1
        warnings = []
        datalink = pcap_datalink(opened)
        linkType = LinkType(datalink: datalink)
        linkTypeName = Self.name(ofDatalink: datalink)
    }

    deinit { pcap_close(raw) }

    // MARK: - Filter

    /// What finwatch captures before any user filter: `tcp`, and IPv6 TCP behind one hop-by-hop
    /// header, which BPF's `tcp` does not match — BIG TCP (segments over 64 KiB on loopback and
    /// veth) carries its jumbo length there, and a FIN can ride on such a segment.
    package static let tcpFilter = "tcp or (ip6 and ip6[6] = 0 and ip6[40] = 6)"

    /// What finwatch also captures when it looks inside tunnels: IP-in-IP, GRE (and ERSPAN), the
    /// UDP tunnels by their ports, MPLS and PPPoE sessions by EtherType. `ether proto` rather than
    /// BPF's `mpls`/`pppoes`, which shift every later offset of the expression (libpcap's rule),
    /// so a user filter after them would test the inner packet of every frame.
    package static let encapsulationFilter = "ip proto 4 or ip proto 41 or ip6 proto 4 or ip6 proto 41"
        + " or ip proto 47 or ip6 proto 47 or udp dst port 4789 or udp dst port 8472 or udp dst port 6081"
        + " or udp port 2152 or udp port 3544 or ether proto 0x8847 or ether proto 0x8848 or ether proto 0x8864"

    /// The user's filter without its surrounding spaces, or nil when there is none (absent or blank).
    package static func userFilter(_ text: String?) -> String? {
        guard let trimmed = text?.trimmingSpaces, !trimmed.isEmpty else { return nil }
        return trimmed
    }

    /// The expression installed for `userFilter`: `tcpFilter` (or the encapsulations too, with
    /// `decapsulate`), ANDed with the user's when given. The user's comes first: it tests the
    /// outermost headers of a tunnelled frame.
    package static func filterExpression(for userFilter: String?, decapsulate: Bool = false) -> String {
        let base = decapsulate ? "\(tcpFilter) or \(encapsulationFilter)" : tcpFilter
        guard let filter = Self.userFilter(userFilter) else { return base }
        return decapsulate ? "(\(filter)) and (\(base))" : "(\(base)) and (\(filter))"
    }

    /// Compiles `tcpFilter` ANDed with `userFilter` (nil or blank: `tcpFilter` alone) and
    /// installs it. Errors name the user's text only: the rest of the expression is ours.
    /// A link type finwatch does not decode may have no BPF support at all; its frames are all
    /// skipped anyway, so the filter is only checked (against Ethernet) and not installed. NFLOG,
    /// which finwatch decodes, has no BPF support either: the same, and the filter does not apply.
    package func setFilter(_ userFilter: String?, decapsulate: Bool = false) throws(CaptureError) {
        let expression = Self.filterExpression(for: userFilter, decapsulate: decapsulate)
        guard let linkType, linkType != .nflog else {
            try Self.check(expression, userFilter: userFilter ?? "")
            return
        }
        var program = bpf_program()
        // PCAP_NETMASK_UNKNOWN: only broadcast tests need the netmask; they then fail to compile.
        guard pcap_compile(raw, &program, expression, 1, 0xffff_ffff) == 0 else {
            throw .invalidFilter(filter: userFilter ?? "", message: String(cString: pcap_geterr(raw)))
        }
        defer { pcap_freecode(&program) }
        guard pcap_setfilter(raw, &program) == 0 else {
            throw .invalidFilter(filter: userFilter ?? "", message: String(cString: pcap_geterr(raw)))
        }
    }

    /// Compiles `expression` for Ethernet on a dead handle: syntax and semantics, nothing installed.
    private static func check(_ expression: String, userFilter: String) throws(CaptureError) {
        guard let dead = pcap_open_dead(DLT_EN10MB, 256) else { return }
        defer { pcap_close(dead) }
        var program = bpf_program()
        guard pcap_compile(dead, &program, expression, 1, 0xffff_ffff) == 0 else {
            throw .invalidFilter(filter: userFilter, message: String(cString: pcap_geterr(dead)))
        }
        pcap_freecode(&program)
    }

    // MARK: - Reading

    /// Waits up to `timeoutMilliseconds` for a live capture to have frames (poll on its
    /// selectable descriptor). Files are always ready. Returns false on timeout or a signal.
    package func waitForFrames(timeoutMilliseconds: Int32) throws(CaptureError) -> Bool {
        guard selectableDescriptor >= 0 else { return true }
        var request = pollfd(fd: selectableDescriptor, events: Int16(POLLIN), revents: 0)
        let ready = poll(&request, 1, timeoutMilliseconds)
        if ready < 0 {
            let code = errno
            if code == EINTR { return false }
            throw .systemCall(name: "poll", errno: code)
        }
        return ready > 0
    }

    /// Hands up to `limit` frames (-1: everything available; a whole file) to `body`, then
    /// returns how many. The bytes are valid only during the call. 0 means: nothing ready (live),
    /// end of file, or a break was requested (see `isBreakRequested`). Per frame this does not
    /// allocate: the context lives on this stack frame and reaches the C callback through
    /// pcap_dispatch's user pointer.
    package func dispatch(limit: Int32, _ body: (RawSpan, FrameInfo) -> Void) throws(CaptureError) -> Int {
        let result = withoutActuallyEscaping(body) { escapable in
            var context = DispatchContext(body: escapable, subsecondScale: subsecondScale)
            return withUnsafeMutablePointer(to: &context) { pointer in
                pcap_dispatch(raw, limit, { user, header, bytes in
                    // libpcap passes back the user pointer given below and non-null header and
                    // bytes for every frame; guard anyway rather than trap inside a C callback.
                    guard let user, let header, let bytes else { return }
                    let context = UnsafeMutableRawPointer(user).assumingMemoryBound(to: DispatchContext.self)
                    let captured = Int(header.pointee.caplen)
                    let info = FrameInfo(
                        timestamp: Timestamp(
                            seconds: Int64(header.pointee.ts.tv_sec),
                            nanoseconds: Int64(header.pointee.ts.tv_usec) &* context.pointee.subsecondScale),
                        capturedLength: captured,
                        wireLength: Int(header.pointee.len))
                    let buffer = UnsafeRawBufferPointer(start: bytes, count: captured)
                    context.pointee.body(buffer.bytes, info)
                }, UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: UInt8.self))
            }
        }
        if result >= 0 { return Int(result) }
        if result == PCAP_ERROR_BREAK {
            stopRequested.store(true, ordering: .relaxed)
            return 0
        }
        let message = String(cString: pcap_geterr(raw))
        throw isLive ? .readFailed(source: source, message: message)
                     : .corruptCapture(path: source, message: message)
    }

    /// Reads up to `limit` frames into `sink` with pcap_next_ex, returning how many: the hot
    /// path's form of `dispatch`. No C callback stands between libpcap and the sink, so nothing
    /// is retained or checked per frame: the sink is mutated in place. 0 means what it means for
    /// `dispatch` (nothing ready, end of file, or a break requested). Inlinable, so that it can be
    /// specialised for the caller's sink (a protocol witness call per frame otherwise); the
    /// pipeline's sink has its specialised overload beside `FrameDecoder`.
    @inlinable
    package func read<Sink: FrameSink & ~Copyable>(limit: Int, into sink: inout Sink) throws(CaptureError) -> Int {
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        var count = 0
        while count < limit {
            let status = pcap_next_ex(raw, &header, &data)
            guard status == 1 else {
                // 0: a live capture has nothing waiting. PCAP_ERROR_BREAK: end of file, or
                // pcap_breakloop (which already set `stopRequested`).
                if status == 0 || status == PCAP_ERROR_BREAK { break }
                throw readError()
            }
            // libpcap sets both on success; a nil here would be its bug: skip rather than trap.
            guard let header, let data else { continue }
            count += 1
            let captured = Int(header.pointee.caplen)
            let info = FrameInfo(
                timestamp: Timestamp(seconds: Int64(header.pointee.ts.tv_sec),
                                     nanoseconds: Int64(header.pointee.ts.tv_usec) &* subsecondScale),
                capturedLength: captured,
                wireLength: Int(header.pointee.len))
            sink.frame(UnsafeRawBufferPointer(start: data, count: captured).bytes, info)
        }
        return count
    }

    /// The error libpcap reports for a failed read.
    @usableFromInline
    func readError() -> CaptureError {
        let message = String(cString: pcap_geterr(raw))
        return isLive ? .readFailed(source: source, message: message) : .corruptCapture(path: source, message: message)
    }

    /// Asks the capture loop to stop. The only method safe to call from another thread.
    package func breakLoop() {
        stopRequested.store(true, ordering: .relaxed)
        pcap_breakloop(raw)
    }

    /// Whether `breakLoop()` was called: the loop checks it each turn, because pcap_breakloop
    /// alone does not wake a poll() on our descriptor, and in non-blocking mode libpcap may not
    /// look at its own flag when no frame is waiting.
    package var isBreakRequested: Bool { stopRequested.load(ordering: .relaxed) }

    // MARK: - Fanout

    /// Joins this live handle to a `PACKET_FANOUT` group in hash mode with defragmentation: the
    /// kernel's symmetric flow hash sends both directions of a connection (and the copies of one
    /// segment seen on `any`) to the same member. `group` nil asks the kernel for an id no other
    /// socket uses (PACKET_FANOUT_FLAG_UNIQUEID), so finwatch never silently shares another
    /// program's group; the id is returned for the other handles to join. Must follow activation.
    package func joinFanout(group: UInt16?) throws(CaptureError) -> UInt16 {
        let descriptor = pcap_fileno(raw)
        let mode = Fanout.hash | Fanout.flagDefrag
        var value: UInt32 = if let group { UInt32(group) | mode << 16 } else { (mode | Fanout.flagUniqueID) << 16 }
        if setsockopt(descriptor, Fanout.solPacket, Fanout.option, &value, socklen_t(MemoryLayout<UInt32>.size)) != 0 {
            let reason = String(cString: strerror(errno))
            throw .fanoutRefused(interface: source, group: group, reason: reason)
        }
        var joined: UInt32 = 0
        var length = socklen_t(MemoryLayout<UInt32>.size)
        guard getsockopt(descriptor, Fanout.solPacket, Fanout.option, &joined, &length) == 0 else {
            throw .fanoutRefused(interface: source, group: group, reason: String(cString: strerror(errno)))
        }
        return UInt16(truncatingIfNeeded: joined)
    }

    /// linux/if_packet.h's fanout constants; Glibc's module does not carry them.
    private enum Fanout {
        static let solPacket: Int32 = 263
        static let option: Int32 = 18
        static let hash: UInt32 = 0
        static let flagUniqueID: UInt32 = 0x2000
        static let flagDefrag: UInt32 = 0x8000
    }

    // MARK: - Statistics

    /// libpcap's counters since the capture opened; nil for files (libpcap has none there).
    package func statistics() -> CaptureStatistics? {
        guard isLive else { return nil }
        var now = pcap_stat()
        guard pcap_stats(raw, &now) == 0 else { return totals }
        let previous = lastRawStatistics ?? pcap_stat()
        // The u_int counters wrap; a wrapping difference is right across one wrap per call.
        totals.received &+= UInt64(now.ps_recv &- previous.ps_recv)
        totals.droppedByKernel &+= UInt64(now.ps_drop &- previous.ps_drop)
        totals.droppedByInterface &+= UInt64(now.ps_ifdrop &- previous.ps_ifdrop)
        lastRawStatistics = now
        return totals
    }

    // MARK: - Helpers

    private static func activationError(_ status: Int32, interface: String, promiscuous: Bool,
                                        message: String) -> CaptureError {
        switch status {
        case PCAP_ERROR_NO_SUCH_DEVICE: .noSuchInterface(interface)
        case PCAP_ERROR_IFACE_NOT_UP: .interfaceDown(interface)
        case PCAP_ERROR_PERM_DENIED: .permissionDenied(interface: interface, promiscuous: promiscuous, message: message)
        case PCAP_ERROR_PROMISC_PERM_DENIED: .permissionDenied(interface: interface, promiscuous: true, message: message)
        default: .activationFailed(interface: interface, message: message.isEmpty ? String(cString: pcap_statustostr(status)) : message)
        }
    }

    private static func warningText(_ status: Int32, handle: OpaquePointer) -> String {
        let detail = String(cString: pcap_geterr(handle))
        let summary = String(cString: pcap_statustostr(status))
        return detail.isEmpty ? summary : "\(summary): \(detail)"
    }

    private static func name(ofDatalink datalink: Int32) -> String {
        guard let name = pcap_datalink_val_to_name(datalink) else { return "DLT_\(datalink)" }
        return String(cString: name)
    }
}

/// What the C callback needs, reached through pcap_dispatch's user pointer.
/// Where `PcapHandle.read` puts frames. The bytes are valid only during the call.
package protocol FrameSink: ~Copyable {
    mutating func frame(_ bytes: RawSpan, _ info: FrameInfo)
}

private struct DispatchContext {
    var body: (RawSpan, FrameInfo) -> Void
    let subsecondScale: Int64
}

private extension String {
    var trimmingSpaces: String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
