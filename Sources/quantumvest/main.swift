import ArgumentParser
import Log
import Reactor

#if canImport(Glibc)
import Glibc
#endif

// Signals first: every thread created later inherits the mask, so only the main thread
// (in waitForTermination) ever sees SIGTERM/SIGINT.
Reactor.Process.prepareSignals()

/// `quantumvest serve | import-bars | version`.
struct Quantumvest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantumvest",
        abstract: "QuantumVest realtime gateway.",
        version: Version.string,
        subcommands: [ServeCommand.self, ImportBarsCommand.self, VersionCommand.self])
}

/// Parses, runs, and maps the outcome to the exit codes operators rely on: 0 (done, or help),
/// 1 (could not start), 2 (bad usage: the message names the flag).
func runCommandLine(_ arguments: [String], environment: [String: String]) -> Int32 {
    guard let first = arguments.first else {
        writeFully("quantumvest: no command given\nusage: quantumvest serve|import-bars|version (see 'quantumvest --help')\n", to: 2)
        return 2
    }
    var arguments = arguments
    var fromEnvironment: [String] = []
    do {
        // Twins for the commands that take store or serve settings (import-bars: --data-dir, --postgres).
        let twins: [EnvironmentTwins.Twin]? = switch first {
        case "serve": EnvironmentTwins.twins(of: ServeCommand.self)
        case "import-bars": EnvironmentTwins.twins(of: ImportBarsCommand.self)
        default: nil
        }
        if let twins {
            let applied = try EnvironmentTwins.apply(to: Array(arguments.dropFirst()), environment: environment, twins: twins)
            arguments = [first] + applied.arguments
            fromEnvironment = applied.used
        }
        var command = try Quantumvest.parseAsRoot(arguments)
        try command.run()
        return 0
    } catch let exit as ExitCode {
        return exit.rawValue
    } catch {
        let message = Quantumvest.fullMessage(for: error)
        if Quantumvest.exitCode(for: error) == .success {
            writeFully(message + "\n", to: 1)   // --help, --version
            return 0
        }
        var text = "quantumvest: " + message
        if !fromEnvironment.isEmpty { text += "\n(settings also read from the environment: \(fromEnvironment.joined(separator: ", ")))" }
        writeFully(text + "\n", to: 2)
        return 2
    }
}

var environment: [String: String] = [:]
var entry = environ
while let pointer = entry.pointee {
    let s = String(cString: pointer)
    if let eq = s.firstIndex(of: "=") { environment[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
    entry += 1
}
let status = runCommandLine(Array(CommandLine.arguments.dropFirst()), environment: environment)
exit(status)
