import CProcessArguments

/// The command line finwatch parses, as glibc handed it to the program. Swift's `CommandLine`
/// reads /proc/self/cmdline on Linux, so with /proc hidden (a sandbox, a container's masked
/// /proc) or a preloaded library in the way (libfaketime) it sees the program's name alone,
/// and finwatch would quietly run its default: capture on `any` to standard output.
enum ProcessArguments {
    /// The arguments after the program's name.
    static func current() -> [String] {
        let count = Int(finwatch_saved_argc())
        guard count > 1, let argv = finwatch_saved_argv() else { return Array(CommandLine.arguments.dropFirst()) }
        return (1..<count).map { index in argv[index].map { String(cString: $0) } ?? "" }
    }
}
