/// `--metrics-ports`: the service ports that get a `port` label of their own on the alert and
/// endpoint metrics; every other port is counted as `other`. The list is bounded, so the label
/// is too: at most `maximumPorts` + 1 values, whatever the traffic.
package struct PortBreakdown: Sendable, Equatable {
    /// The most ports one list may name: 33 label values × 10 states stays a small family.
    package static let maximumPorts = 32
    /// The label of every port not in the list.
    package static let otherLabel = "other"

    /// The ports in the order given, no duplicates, 1…`maximumPorts` of them.
    package let ports: [UInt16]
    /// Each bucket's label value: the ports' decimal text, then `other`.
    package let labels: [String]

    /// Why a `--metrics-ports` value is refused: a message naming the value (the flag adds itself).
    package enum Problem: Error, Equatable {
        case empty
        case notAPort(String)
        case duplicate(UInt16)
        case tooMany(Int)

        package var message: String {
            switch self {
            case .empty: "must list at least one port, such as 443,5432"
            case .notAPort(let text): "takes ports 1-65535 separated by commas, got \"\(text)\""
            case .duplicate(let port): "lists port \(port) twice"
            case .tooMany(let count): "lists \(count) ports, at most \(PortBreakdown.maximumPorts) (each is a label value on every series)"
            }
        }
    }

    /// `443,5432,…`: decimal ports 1-65535, comma-separated, spaces around items allowed.
    package init(parsing text: String) throws(Problem) {
        let items = text.split(separator: ",", omittingEmptySubsequences: false)
        if text.allSatisfy({ $0 == " " }) { throw .empty }
        guard items.count <= PortBreakdown.maximumPorts else { throw .tooMany(items.count) }
        var ports: [UInt16] = []
        for item in items {
            var digits = item
            while digits.first == " " { digits.removeFirst() }
            while digits.last == " " { digits.removeLast() }
            // Digits only: Int("+443") would pass, and a label must be the port's plain text.
            guard !digits.isEmpty, digits.count <= 5, digits.utf8.allSatisfy({ (0x30...0x39).contains($0) }),
                  let value = Int(digits), (1...65535).contains(value) else {
                throw .notAPort(String(item))
            }
            let port = UInt16(value)
            guard !ports.contains(port) else { throw .duplicate(port) }
            ports.append(port)
        }
        self.init(ports: ports)
    }

    /// From ports already checked (1…`maximumPorts` distinct ones).
    package init(ports: [UInt16]) {
        precondition(!ports.isEmpty && ports.count <= PortBreakdown.maximumPorts, "PortBreakdown: 1-32 ports")
        self.ports = ports
        labels = ports.map { String($0) } + [PortBreakdown.otherLabel]
    }

    /// Buckets: one per listed port, then `other`.
    package var bucketCount: Int { ports.count + 1 }

    /// The bucket of a connection: its service port (resp's) when listed; else orig's when listed
    /// (a connection picked up mid-stream whose opener was inferred the wrong way round); else `other`.
    package func bucket(orig: UInt16, resp: UInt16) -> Int {
        if let index = ports.firstIndex(of: resp) { return index }
        if let index = ports.firstIndex(of: orig) { return index }
        return ports.count
    }

    /// The label value of a connection, as `bucket(orig:resp:)` chooses it.
    package func label(orig: UInt16, resp: UInt16) -> String { labels[bucket(orig: orig, resp: resp)] }
}
