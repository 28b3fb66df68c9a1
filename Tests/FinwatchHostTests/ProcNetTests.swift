import FinwatchCore
import FinwatchHost
import Testing

@Suite("/proc/net/tcp and /proc/PID/cgroup parsing") struct ProcNetTests {
    // Lines as a little-endian (x86) kernel prints them.
    static let header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"
    static let listenLine = "   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 631 1 00000000a56f74f7 100 0 0 10 0"
    static let closeWaitLine = "   1: 0100007F:1F90 0100007F:D040 08 00000000:00000001 00:00000000 00000000  1000        0 48213 1 0000000000000000 20 4 30 10 -1"

    @Test func ipv4CloseWaitRow_readsAddressesLittleEndianAndPortsAsPrinted() throws {
        let socket = try #require(ProcNet.socket(inLine: Substring(Self.closeWaitLine), littleEndian: true))
        #expect(socket.local == Endpoint(ip: IPAddress("127.0.0.1")!, port: 8080))
        #expect(socket.remote == Endpoint(ip: IPAddress("127.0.0.1")!, port: 0xD040))
        #expect(socket.state == .closeWait)
        #expect(socket.state.endpointState == .closeWait)
        #expect(socket.uid == 1000)
        #expect(socket.inode == 48213)
    }

    @Test func ipv4Address_onBigEndianKernel_isReadInOrder() throws {
        let line = "   0: C6120001:0050 C6120002:9C40 05 00000000:00000000 00:00000000 00000000     0        0 77 1"
        let socket = try #require(ProcNet.socket(inLine: Substring(line), littleEndian: false))
        #expect(socket.local == Endpoint(ip: IPAddress("198.18.0.1")!, port: 80))
        #expect(socket.remote == Endpoint(ip: IPAddress("198.18.0.2")!, port: 40000))
        #expect(socket.state == .finWait2)
    }

    @Test func ipv6Row_readsEachWordByteReversed() throws {
        // 2001:db8::1 port 443 ↔ 2001:db8::2 port 50000, LAST_ACK, as x86 prints it.
        let line = "   3: B80D0120000000000000000001000000:01BB B80D0120000000000000000002000000:C350 09 00000000:00000000 00:00000000 00000000     0        0 9911 1 0000000000000000 20 4 0 10 -1"
        let socket = try #require(ProcNet.socket(inLine: Substring(line), littleEndian: true))
        #expect(socket.local == Endpoint(ip: IPAddress("2001:db8::1")!, port: 443))
        #expect(socket.remote == Endpoint(ip: IPAddress("2001:db8::2")!, port: 50000))
        #expect(socket.state == .lastAck)
        #expect(socket.inode == 9911)
    }

    @Test func ipv6Loopback_isOneInTheLastWord() throws {
        let line = "   0: 00000000000000000000000001000000:2455 00000000000000000000000001000000:A1B2 01 00000000:00000000 00:00000000 00000000     0        0 5 1"
        let socket = try #require(ProcNet.socket(inLine: Substring(line), littleEndian: true))
        #expect(socket.local.ip == IPAddress("::1")!)
        #expect(socket.state == .established)
    }

    @Test func ipv4MappedIPv6Row_comesBackAsIPv4() throws {
        // A dual-stack listener's accepted IPv4 connection: ::ffff:127.0.0.1.
        let line = "   2: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:D040 08 00000000:00000000 00:00000000 00000000     0        0 4242 1"
        let socket = try #require(ProcNet.socket(inLine: Substring(line), littleEndian: true))
        #expect(socket.local == Endpoint(ip: IPAddress("127.0.0.1")!, port: 8080))
        #expect(!socket.local.ip.isIPv6)
    }

    @Test func wholeTable_skipsTheHeaderAndKeepsEveryRow() {
        let text = [Self.header, Self.listenLine, Self.closeWaitLine, ""].joined(separator: "\n")
        let sockets = ProcNet.sockets(inTable: text, littleEndian: true)
        #expect(sockets.map(\.state) == [.listen, .closeWait])
        #expect(sockets.map(\.inode) == [631, 48213])
    }

    @Test("malformed rows are skipped, never trapped on", arguments: [
        "", "garbage", "   0: 0100007F:1F90", "   0: 0100007G:1F90 0100007F:D040 08 0:0 0:0 0 0 0 1 1",
        "   0: 0100007F:1F9 0100007F:D040 08 0:0 0:0 0 0 0 1 1", "   0: 0100007F:1F90 0100007F:D040 FF 0:0 0:0 0 0 0 1 1",
        "   0: 0100007F:1F90 0100007F:D040 08 0:0 0:0 0 99999999999 0 1 1",
    ])
    func malformedRow_isNil(line: String) {
        #expect(ProcNet.socket(inLine: Substring(line), littleEndian: true) == nil)
    }

    @Test func socketLink_givesItsInode() {
        #expect(ProcNet.socketInode(link: "socket:[48213]") == 48213)
        #expect(ProcNet.socketInode(link: "pipe:[48213]") == nil)
        #expect(ProcNet.socketInode(link: "/dev/null") == nil)
        #expect(ProcNet.socketInode(link: "socket:[]") == nil)
    }

    @Test func kernelStates_mapToTheContractsStates() {
        #expect(ProcNet.KernelState.finWait1.endpointState == .finWait1)
        #expect(ProcNet.KernelState.timeWait.endpointState == .timeWait)
        #expect(ProcNet.KernelState.closing.endpointState == .closing)
        #expect(ProcNet.KernelState.listen.endpointState == nil)
    }

    @Test("cgroup path → systemd unit", arguments: [
        ("0::/system.slice/nginx.service\n", "nginx.service"),
        ("0::/system.slice/app.service/worker\n", "app.service"),
        ("0::/user.slice/user-1000.slice/user@1000.service/app.slice/vte-spawn-1.scope\n", "vte-spawn-1.scope"),
        ("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-ab12.scope\n", "cri-containerd-ab12.scope"),
        ("12:pids:/system.slice/ssh.service\n1:name=systemd:/system.slice/ssh.service\n0::/\n", "ssh.service"),
        ("0::/init.scope\n", "init.scope"),
    ])
    func cgroupUnit(text: String, unit: String) {
        #expect(ProcNet.systemdUnit(cgroup: text) == unit)
    }

    @Test func cgroupWithoutAUnit_isNil() {
        #expect(ProcNet.systemdUnit(cgroup: "0::/\n") == nil)
        #expect(ProcNet.systemdUnit(cgroup: "0::/user.slice\n") == nil)
        #expect(ProcNet.systemdUnit(cgroup: "") == nil)
    }
}
