import Glibc

/// A detached thread of our own with a name `top -H` and /proc show. A pthread, not Foundation's
/// Thread: Thread alone would link all of Foundation and ICU into the static binary (34 MB).
enum NamedThread {
    /// Starts `body` on a new thread named `name`. Returns nil, or the system's reason in words
    /// when it refuses a thread (and then `body` never runs).
    @discardableResult
    static func start(name: String, _ body: @escaping @Sendable () -> Void) -> String? {
        let work = Work(name: name, run: body)
        let context = Unmanaged.passRetained(work).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(&thread, nil, { context in
            let work = Unmanaged<Work>.fromOpaque(context!).takeRetainedValue()
            NamedThread.nameThisThread(work.name)
            work.run()
            return nil
        }, context)
        guard status == 0 else {
            Unmanaged<Work>.fromOpaque(context).release()
            return String(cString: strerror(status))
        }
        pthread_detach(thread)
        return nil
    }

    /// Names the calling thread (pthread_setname_np is not visible to Swift here). Linux keeps
    /// 15 bytes of it.
    static func nameThisThread(_ name: String) {
        let fd = open("/proc/thread-self/comm", O_WRONLY)
        guard fd >= 0 else { return }
        _ = Array(name.utf8.prefix(15)).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    /// What the thread runs, passed through pthread_create's context pointer.
    private final class Work: Sendable {
        let name: String
        let run: @Sendable () -> Void
        init(name: String, run: @escaping @Sendable () -> Void) {
            self.name = name
            self.run = run
        }
    }
}
