import FinwatchCore

/// The ways a generated connection ends, with how often each occurs in the mixed file (percent).
/// Every teardown path finwatch reports appears; the weights only shape the mix.
enum Scenario: CaseIterable {
    case normalClose            // either side first, FIN acknowledged, then the peer's FIN
    case piggybackedFIN         // the response's last data segment carries resp's FIN
    case simultaneousClose      // FINs cross (RFC 9293 §3.6, CLOSING on both sides)
    case halfClose              // orig shuts down writing, resp keeps sending, then closes
    case finRetransmit          // the active closer's FIN lost 1–4 times: 200, 400, 800 ms back-off
    case lostFinalACK           // final ACK lost: the passive side's FIN retransmitted, ACKed again
    case resetEstablished       // RST from either side mid-stream
    case resetCloseWait         // the passive side aborts after the peer's FIN
    case resetFinWait2          // the active closer aborts while waiting for the peer's FIN
    case resetLastAck           // the passive side aborts after its own FIN went unanswered
    case refused                // SYN → RST/ACK
    case unanswered             // SYN, SYN again after 1, 2, 4 s, then nothing
    case lingeringCloseWait     // peer's FIN ACKed, then the passive program never calls close() for 30–90 s (sometimes never)
    case timeWaitReuse          // normal close, then a new SYN on the same 4-tuple 0.5–30 s later
    case midStream              // no handshake seen: the capture started mid-connection

    var weight: UInt64 {
        switch self {
        case .normalClose: 40
        case .piggybackedFIN: 8
        case .simultaneousClose: 3
        case .halfClose: 5
        case .finRetransmit: 4
        case .lostFinalACK: 3
        case .resetEstablished: 6
        case .resetCloseWait: 3
        case .resetFinWait2: 2
        case .resetLastAck: 2
        case .refused: 4
        case .unanswered: 2
        case .lingeringCloseWait: 2
        case .timeWaitReuse: 3
        case .midStream: 13
        }
    }

    private static let totalWeight = allCases.reduce(0) { $0 + $1.weight }

    /// Picks a scenario by weight.
    static func pick(_ random: inout SeededGenerator) -> Scenario {
        var draw = random.below(totalWeight)
        for scenario in allCases {
            if draw < scenario.weight { return scenario }
            draw -= scenario.weight
        }
        preconditionFailure("Scenario.pick: weights changed while drawing")
    }

    /// Appends this scenario's segments to `script`.
    func build(_ script: inout ConnectionScript, random: inout SeededGenerator) {
        let rto: UInt64 = 200_000                   // Linux's minimum retransmission timeout
        let active: Side = random.chance(65) ? .orig : .resp
        let passive = active.peer
        switch self {
        case .normalClose:
            script.handshake()
            script.exchange(random: &random)
            script.normalTeardown(active: active, random: &random)
        case .piggybackedFIN:
            script.handshake()
            script.exchange(random: &random, responseFIN: true)
            // transfer's last ACK from orig already covers the data and the FIN.
            script.send(.orig, [.fin, .ack], after: random.between(50...5_000))
            script.send(.resp, .ack)
        case .simultaneousClose:
            script.handshake()
            script.exchange(random: &random)
            script.send(active, [.fin, .ack], after: random.between(1_000...50_000), delivered: false)
            script.send(passive, [.fin, .ack], after: random.between(1...80), delivered: false)
            script.deliver(active)
            script.deliver(passive)
            script.send(active, .ack, after: random.between(5...100))
            script.send(passive, .ack, after: random.between(1...50))
        case .halfClose:
            script.handshake()
            script.transfer(from: .orig, byteCount: Int(random.between(100...2_000)), random: &random)
            script.send(.orig, [.fin, .ack], after: random.between(10...200))   // shutdown(SHUT_WR)
            script.send(.resp, .ack)
            // resp goes on sending; orig, half-closed, still acknowledges it (RFC 9293 §3.6).
            script.transfer(from: .resp, byteCount: Int(random.between(3_000...120_000)), random: &random)
            script.send(.resp, [.fin, .ack], after: random.between(100...20_000))
            script.send(.orig, .ack)
        case .finRetransmit:
            script.handshake()
            script.exchange(random: &random)
            let losses = Int(random.between(1...4))
            script.send(active, [.fin, .ack], after: random.between(1_000...200_000), delivered: false)
            for attempt in 0..<losses {
                script.resend(active, [.fin, .ack], after: rto << UInt64(attempt), delivered: attempt == losses - 1)
            }
            script.send(passive, .ack)
            script.send(passive, [.fin, .ack], after: random.between(50...20_000))
            script.send(active, .ack)
        case .lostFinalACK:
            script.handshake()
            script.exchange(random: &random)
            script.send(active, [.fin, .ack], after: random.between(1_000...200_000))
            script.send(passive, .ack)
            script.send(passive, [.fin, .ack], after: random.between(50...20_000))
            script.send(active, .ack, delivered: false)                   // lost after the capture point
            let resends = Int(random.between(1...2))
            for attempt in 0..<resends {
                script.resend(passive, [.fin, .ack], after: rto << UInt64(attempt))
                script.send(active, .ack, after: script.delay(for: active))   // TIME_WAIT answers again
            }
        case .resetEstablished:
            script.handshake()
            script.transfer(from: .orig, byteCount: Int(random.between(80...1_200)), random: &random)
            if random.chance(50) {
                script.transfer(from: .resp, byteCount: ConnectionScript.responseSize(&random), random: &random)
            }
            script.reset(active, after: random.between(100...100_000))
        case .resetCloseWait:
            script.handshake()
            script.exchange(random: &random)
            script.send(active, [.fin, .ack], after: random.between(1_000...200_000))
            script.send(passive, .ack)
            script.reset(passive, after: random.between(100...500_000))   // close() with unread data
        case .resetFinWait2:
            script.handshake()
            script.exchange(random: &random)
            script.send(active, [.fin, .ack], after: random.between(1_000...200_000))
            script.send(passive, .ack)
            script.reset(active, after: random.between(10_000...3_000_000))   // SO_LINGER 0, or killed
        case .resetLastAck:
            script.handshake()
            script.exchange(random: &random)
            script.send(active, [.fin, .ack], after: random.between(1_000...200_000))
            script.send(passive, .ack)
            script.send(passive, [.fin, .ack], after: random.between(50...20_000), delivered: false)
            script.resend(passive, [.fin, .ack], after: rto, delivered: false)
            script.reset(passive, after: random.between(1_000...400_000))
        case .refused:
            script.send(.orig, .syn, after: 0)
            script.refuse()
        case .unanswered:
            script.send(.orig, .syn, after: 0, delivered: false)
            script.release()
            for attempt in 0..<Int(random.between(1...3)) {
                script.resend(.orig, .syn, after: 1_000_000 << UInt64(attempt), delivered: false)
            }
        case .lingeringCloseWait:
            script.handshake()
            script.exchange(random: &random)
            script.send(.orig, [.fin, .ack], after: random.between(1_000...200_000))
            script.send(.resp, .ack)
            script.release()
            if random.chance(70) {                                      // else: still CLOSE_WAIT at the end
                script.send(.resp, [.fin, .ack], after: random.between(30_000_000...90_000_000))
                script.send(.orig, .ack)
            }
        case .timeWaitReuse:
            script.handshake()
            script.exchange(random: &random)
            script.normalTeardown(active: .orig, random: &random)
            script.release()
            script.reincarnate(random: &random)
            script.handshake(synAfter: random.between(500_000...30_000_000))
            script.exchange(random: &random)
            script.normalTeardown(active: .orig, random: &random)
        case .midStream:
            // The first segment seen is data in flight; no SYN ever appears.
            script.assumeSynchronised()
            script.transfer(from: .resp, byteCount: ConnectionScript.responseSize(&random), random: &random)
            if random.chance(30) { script.exchange(random: &random) }
            script.normalTeardown(active: active, random: &random)
        }
    }
}

extension ConnectionScript {
    /// FIN from `active`, its ACK, the passive program's close() a little later, the final ACK.
    /// Half the time the passive side's ACK and FIN travel together (FIN/ACK at once).
    mutating func normalTeardown(active: Side, random: inout SeededGenerator) {
        send(active, [.fin, .ack], after: random.between(1_000...200_000))
        if random.chance(50) {
            send(active.peer, .ack)
            send(active.peer, [.fin, .ack], after: random.between(20...20_000))
        } else {
            send(active.peer, [.fin, .ack])
        }
        send(active, .ack)
    }
}
