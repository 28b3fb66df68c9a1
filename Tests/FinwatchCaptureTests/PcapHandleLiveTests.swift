import FinwatchCapture
import FinwatchCore
import Foundation
import Glibc
import Testing

/// Live captures: real frames on `lo` (needs root or CAP_NET_RAW; CI runs as root).
@Suite("PcapHandle live", .serialized) struct PcapHandleLiveTests {
    static var canCapture: Bool { geteuid() == 0 }

    @Test func nonexistentInterface_isNoSuchInterface() {
        #expect(throws: CaptureError.noSuchInterface("finwatch-no9")) {
            _ = try PcapHandle(live: LiveCaptureOptions(interface: "finwatch-no9"))
        }
    }

    @Test(.enabled(if: canCapture, "capturing on lo needs root or CAP_NET_RAW"))
    func loopbackConversation_isCaptured_withHostTimes() throws {
        let (listener, port) = try LoopbackConversation.listen()
        defer { close(listener) }
        let handle = try CaptureSource.live(LiveCaptureOptions(interface: "lo")).open(filter: "port \(port)")
        #expect(handle.linkType == .ethernet)   // Linux loopback is DLT_EN10MB
        let before = Date().timeIntervalSince1970
        let clientPort = try LoopbackConversation.run(listener: listener, port: port)

        var flags: [UInt8] = []
        var times: [Timestamp] = []
        var snapped = true
        let deadline = Date().addingTimeInterval(5)
        // SYN, SYN-ACK, ACK, 2 data, 2 ACK-ish, 2 FIN, last ACK: stop once both FINs and an ACK after.
        while Date() < deadline, flags.filter({ $0 & 0x01 != 0 }).count < 2 || flags.count < 8 {
            _ = try handle.waitForFrames(timeoutMilliseconds: 250)
            _ = try handle.dispatch(limit: -1) { span, info in
                // Ethernet 14 + IPv4 20 + TCP flags at 13.
                flags.append(span.unsafeLoad(fromByteOffset: 14 + 20 + 13, as: UInt8.self))
                times.append(info.timestamp)
                snapped = snapped && info.capturedLength <= 256
            }
        }
        #expect(flags.first.map { $0 & 0x12 } == 0x02, "first frame is the SYN")
        #expect(flags.filter { $0 & 0x01 != 0 }.count == 2, "both FINs seen")
        #expect(snapped, "snaplen 256 by default")
        let after = Date().timeIntervalSince1970
        #expect(times.allSatisfy { Double($0.nanoseconds) / 1e9 >= before - 1 && Double($0.nanoseconds) / 1e9 <= after + 1 })
        #expect(clientPort != port)
        let statistics = try #require(handle.statistics())
        #expect(statistics.received >= UInt64(flags.count))
        #expect(statistics.droppedByKernel == 0)
    }

    @Test(.enabled(if: canCapture, "capturing on lo needs root or CAP_NET_RAW"))
    func silentLink_pollWakesEvery250ms_andBreakLoopFromAnotherThreadStopsIt() async throws {
        // A port nobody uses: the filter keeps the capture silent.
        let handle = try CaptureSource.live(LiveCaptureOptions(interface: "lo")).open(filter: "port 9")
        let started = Date()
        let wakes = try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask {
                var wakes = 0
                while !handle.isBreakRequested, wakes < 100 {
                    _ = try handle.waitForFrames(timeoutMilliseconds: 250)
                    _ = try handle.dispatch(limit: -1) { _, _ in }
                    wakes += 1
                }
                return wakes
            }
            try await Task.sleep(for: .milliseconds(900))
            handle.breakLoop()
            return try await group.next() ?? 0
        }
        let elapsed = Date().timeIntervalSince(started)
        // About four 250 ms ticks in 0.9 s. The upper bounds leave room for a loaded CI machine
        // running suites in parallel; the point is that a silent link still wakes the loop.
        #expect((3...10).contains(wakes), "about four 250 ms ticks in 0.9 s, got \(wakes)")
        #expect(elapsed < 3.0)
    }

    @Test func deviceList_hasLoopbackWithItsAddress() throws {
        let devices = try CaptureDevice.all()
        let loopback = try #require(devices.first { $0.name == "lo" })
        #expect(loopback.isLoopback)
        #expect(loopback.isUp)
        #expect(loopback.addresses.contains(IPAddress("127.0.0.1")!))
        #expect(devices.contains { $0.name == "any" })
    }
}
