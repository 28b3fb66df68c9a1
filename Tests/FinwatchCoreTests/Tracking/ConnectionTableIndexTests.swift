#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import FinwatchCore

/// The table's index keeps a hash tag in the bits of each 32-bit entry that `maxConnections` does
/// not need for the slot or residue number and the residue flag (none at all from 2^30 on). Whatever the split, every
/// connection must be found by its later segments, removals (backward-shift deletion, when a
/// residue ends) must leave the others findable and make the removed ones unfindable, and the
/// index must grow from its 1,024 entries without losing anything.
enum IndexScenario {
    static let server = Endpoint(ip: IPAddress("198.19.0.1")!, port: 443)
    static let start: Int64 = 1_800_000_000_000_000_000

    /// Connection `i`'s client: addresses and ports both vary; every fifth is IPv6.
    static func client(_ i: Int) -> Endpoint {
        let port = UInt16(32768 + i % 20_000)
        if i % 5 == 4 { return Endpoint(ip: IPAddress(ipv6High: 0x2001_0db8_0000_0000, low: UInt64(i / 20_000 + 1)), port: port) }
        return Endpoint(ip: IPAddress(ipv4: 0xC612_0000 | UInt32(i / 20_000 + 1)), port: port)
    }

    static func server(for i: Int) -> Endpoint {
        i % 5 == 4 ? Endpoint(ip: IPAddress("2001:db8::443")!, port: 443) : server
    }

    static func segment(_ i: Int, fromClient: Bool, _ flags: TCPFlags, seq: UInt32, ack: UInt32 = 0,
                        payload: UInt32 = 0, at nanoseconds: Int64) -> TCPSegment {
        let (source, destination) = fromClient ? (client(i), server(for: i)) : (server(for: i), client(i))
        return TCPSegment(timestamp: Timestamp(nanoseconds: start + nanoseconds), source: source.ip,
                          destination: destination.ip, sourcePort: source.port, destinationPort: destination.port,
                          sequence: SequenceNumber(seq), acknowledgment: SequenceNumber(ack), flags: flags,
                          payloadLength: payload)
    }

    static func closes(_ events: [Event]) -> [CloseRecord] {
        events.compactMap { if case .close(let record) = $0 { record } else { nil } }
    }

    /// Opens `n` connections, finds each again, resets the even ones and lets their residues
    /// end (removal), finds the odd ones again, reopens the even 4-tuples (new uids), finishes.
    /// `check` is called with every expectation; the caller records it (`#expect`, or an exit code).
    static func run(maxConnections: Int, seed: UInt64, connections n: Int,
                    check: (Bool, String) -> Void) {
        var configuration = TrackerConfiguration()
        configuration.maxConnections = maxConnections
        var table = ConnectionTable(configuration: configuration, hashSeed: seed)
        var events: [Event] = []
        var clock: Int64 = 0
        func feed(_ segment: TCPSegment) {
            table.advance(to: segment.timestamp, into: &events)
            table.observe(segment, into: &events)
        }
        func tick() -> Int64 { clock += 1_000; return clock }

        // Open: a SYN each. Then the SYN+ACK and the ACK must each find their connection: a
        // segment not found would start a connection of its own (count up, or an eviction).
        for i in 0..<n { feed(segment(i, fromClient: true, .syn, seq: 1000, at: tick())) }
        check(table.count == n, "after SYNs: \(table.count) tracked, want \(n)")
        for i in 0..<n { feed(segment(i, fromClient: false, [.syn, .ack], seq: 5000, ack: 1001, at: tick())) }
        for i in 0..<n { feed(segment(i, fromClient: true, .ack, seq: 1001, ack: 5001, at: tick())) }
        check(table.count == n, "after the handshakes: \(table.count) tracked, want \(n)")
        check(events.isEmpty, "the handshakes wrote \(events.count) events")
        check(table.evictions == 0 && table.rejected == 0, "evictions \(table.evictions), rejected \(table.rejected)")

        // Reset the even ones: one record each, for the connection its handshake made.
        for i in stride(from: 0, to: n, by: 2) {
            feed(segment(i, fromClient: true, [.rst, .ack], seq: 1001, ack: 5001, at: tick()))
        }
        let resets = closes(events)
        check(resets.count == (n + 1) / 2, "\(resets.count) reset records, want \((n + 1) / 2)")
        check(resets.map(\.identity.uid) == stride(from: 0, to: n, by: 2).map { "C\($0 + 1)" },
              "reset uids \(resets.prefix(4).map(\.identity.uid))…")
        check(resets.allSatisfy { $0.close == .reset && $0.resetBy == .orig && $0.history == "ShAR" },
              "reset records: \(resets.first.map { "\($0.close) \($0.history)" } ?? "none")")
        check(resets.allSatisfy { ($0.origPackets, $0.respPackets) == (3, 1) },
              "reset packets \(resets.first.map { ($0.origPackets, $0.respPackets) }.debugDescription)")
        check(table.count == n, "residues still tracked: \(table.count), want \(n)")

        // The residues end (10 s after an RST): each is removed from the index.
        clock += 11_000_000_000
        table.advance(to: Timestamp(nanoseconds: start + clock), into: &events)
        check(table.count == n / 2, "after the residues ended: \(table.count) tracked, want \(n / 2)")
        check(events.count == resets.count, "ending residues wrote \(events.count - resets.count) events")

        // The odd ones are still found after all those removals: data both ways, nothing new.
        for i in stride(from: 1, to: n, by: 2) {
            feed(segment(i, fromClient: true, [.psh, .ack], seq: 1001, ack: 5001, payload: 100, at: tick()))
            feed(segment(i, fromClient: false, .ack, seq: 5001, ack: 1101, at: tick()))
        }
        check(table.count == n / 2, "after data on the survivors: \(table.count) tracked, want \(n / 2)")
        check(events.count == resets.count, "data on the survivors wrote \(events.count - resets.count) events")

        // The removed 4-tuples are gone: a SYN on each starts a new connection with a new uid.
        for i in stride(from: 0, to: n, by: 2) { feed(segment(i, fromClient: true, .syn, seq: 9000, at: tick())) }
        check(table.count == n, "after reopening the reset 4-tuples: \(table.count) tracked, want \(n)")
        check(events.count == resets.count, "reopening wrote \(events.count - resets.count) events")

        table.finish(at: Timestamp(nanoseconds: start + tick()), reason: .endOfInput, into: &events)
        check(table.count == 0, "after finish: \(table.count) tracked")
        let all = closes(events)
        let finished = Array(all.dropFirst(resets.count))
        let survivors = stride(from: 1, to: n, by: 2).map { $0 }
        let reopened = stride(from: 0, to: n, by: 2).map { $0 }
        // Oldest first: the survivors (uids 2, 4, …), then the reopened ones (uids n + 1, …).
        let wantUIDs = survivors.map { "C\($0 + 1)" } + reopened.indices.map { "C\(n + 1 + $0)" }
        check(finished.map(\.identity.uid) == wantUIDs,
              "finish uids \(finished.prefix(4).map(\.identity.uid))… (\(finished.count)), want \(wantUIDs.prefix(4))… (\(wantUIDs.count))")
        let survivorRecords = finished.prefix(survivors.count)
        check(survivorRecords.allSatisfy { ($0.origPackets, $0.respPackets) == (3, 2) && $0.history == "ShADa" },
              "survivor records: \(survivorRecords.first.map { "\($0.origPackets)/\($0.respPackets) \($0.history)" } ?? "none")")
        check(zip(survivorRecords, survivors).allSatisfy { $0.identity.orig == client($1) && $0.identity.resp == server(for: $1) },
              "survivor records name other 4-tuples")
        let reopenedRecords = finished.dropFirst(survivors.count)
        check(reopenedRecords.allSatisfy { ($0.origPackets, $0.respPackets) == (1, 0) && $0.close == .noAnswer },
              "reopened records: \(reopenedRecords.first.map { "\($0.close) \($0.origPackets)/\($0.respPackets)" } ?? "none")")
        check(zip(reopenedRecords, reopened).allSatisfy { $0.identity.orig == client($1) },
              "reopened records name other 4-tuples")
        // Exactly one record per connection over the whole run.
        let uids = all.map(\.identity.uid)
        check(Set(uids).count == uids.count && uids.count == n + reopened.count,
              "\(uids.count) records for \(n + reopened.count) connections, \(Set(uids).count) distinct uids")
    }
}

@Suite("connection table: tagged index")
struct ConnectionTableIndexTests {
    static let seeds: [UInt64] = [0x5EED_F1A7_C0FF_EE00, 0, 1, .max, 0x0123_4567_89AB_CDEF]

    @Test("every connection is found again, before and after removals",
          arguments: [16, 1000, 262_144, 1 << 20], seeds)
    func connections_foundBeforeAndAfterRemovals(maxConnections: Int, seed: UInt64) {
        IndexScenario.run(maxConnections: maxConnections, seed: seed, connections: min(maxConnections, 5000)) { ok, message in
            #expect(ok, "max \(maxConnections), seed \(seed): \(message)")
        }
    }

    @Test func defaultSeed_matchesExplicitDefault() {
        // `ConnectionTable(configuration:)` keeps offline output reproducible with one fixed key.
        var configuration = TrackerConfiguration()
        configuration.maxConnections = 1000
        var implicit = ConnectionTable(configuration: configuration)
        var explicit = ConnectionTable(configuration: configuration, hashSeed: 0x5EED_F1A7_C0FF_EE00)
        var a: [Event] = [], b: [Event] = []
        for i in 0..<300 {
            let syn = IndexScenario.segment(i, fromClient: true, .syn, seq: 1000, at: Int64(i) * 1000)
            implicit.observe(syn, into: &a)
            explicit.observe(syn, into: &b)
        }
        implicit.finish(at: Timestamp(nanoseconds: IndexScenario.start + 1_000_000_000), reason: .endOfInput, into: &a)
        explicit.finish(at: Timestamp(nanoseconds: IndexScenario.start + 1_000_000_000), reason: .endOfInput, into: &b)
        #expect(a.count == 300)
        #expect(a == b)
    }

    /// From `maxConnections` 2^30 on, slot + 1 and the residue flag need all 32 bits and there
    /// is no tag: the table must still work. Run in a child process: if `init` reserved the slot
    /// array for all of `maxConnections` (152 bytes a record, 163 GB at 2^30) the kernel would
    /// refuse it and the process abort, which must fail this test, not end the test run.
    @Test func maxConnections2to30_noTagBits_stillFindsAndRemoves() async {
        await #expect(processExitsWith: .success) {
            var failures = 0
            for seed: UInt64 in [0x5EED_F1A7_C0FF_EE00, 7] {
                IndexScenario.run(maxConnections: 1 << 30, seed: seed, connections: 64) { ok, message in
                    if !ok { failures += 1; print("FAIL (seed \(seed)): \(message)") }
                }
            }
            exit(failures == 0 ? 0 : 1)
        }
    }
}
