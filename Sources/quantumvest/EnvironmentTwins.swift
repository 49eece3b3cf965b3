import ArgumentParser
import JSON

/// `QV_` environment twins of a command's options (`--max-message` ↔ `QV_MAX_MESSAGE`). The
/// option names come from the parser's own description of the command, so a new option gets
/// its twin without being listed twice. A twin applies only when its option is not on the
/// command line; repeatable options take comma-separated values, flags 1/0 (true/false, yes/no,
/// on/off).
enum EnvironmentTwins {
    struct Twin {
        let flag: String
        let variable: String
        let takesValue: Bool
        let repeats: Bool
    }

    /// The long options of `command`, from its `--experimental-dump-help` description.
    static func twins<C: ParsableCommand>(of command: C.Type) -> [Twin] {
        guard let root = try? JSONParser().parse(Array(C._dumpHelp().utf8)),
              let arguments = root["command"]?["arguments"]?.arrayValue else { return [] }
        var twins: [Twin] = []
        for argument in arguments {
            guard let kind = argument["kind"]?.stringValue, kind == "option" || kind == "flag",
                  let names = argument["names"]?.arrayValue,
                  let long = names.first(where: { $0["kind"]?.stringValue == "long" })?["name"]?.stringValue,
                  long != "help", long != "version" else { continue }
            let variable = "QV_" + String(long.uppercased().map { $0 == "-" ? "_" : $0 })
            twins.append(Twin(flag: long, variable: variable, takesValue: kind == "option",
                              repeats: argument["isRepeating"]?.boolValue ?? false))
        }
        return twins
    }

    /// Arguments for the parser: the environment's twins of options `arguments` lacks, then
    /// `arguments`. Also the names of the variables used (never their values: some are secrets).
    static func apply(to arguments: [String], environment: [String: String], twins: [Twin]) throws(ValidationError) -> (arguments: [String], used: [String]) {
        let given = Set(arguments.compactMap { argument -> String? in
            guard argument.hasPrefix("--") else { return nil }
            return String(argument.dropFirst(2).prefix { $0 != "=" })
        })
        var injected: [String] = []
        var used: [String] = []
        for twin in twins where !given.contains(twin.flag) {
            guard let value = environment[twin.variable], !value.isEmpty else { continue }
            used.append(twin.variable)
            if !twin.takesValue {
                switch value.lowercased() {
                case "1", "true", "yes", "on": injected.append("--\(twin.flag)")
                case "0", "false", "no", "off": break
                default: throw ValidationError("\(twin.variable) (--\(twin.flag)) must be 1 or 0, got '\(value)'")
                }
            } else if twin.repeats {
                for item in value.split(separator: ",") where !item.isEmpty { injected.append("--\(twin.flag)=\(item)") }
            } else {
                injected.append("--\(twin.flag)=\(value)")
            }
        }
        return (injected + arguments, used)
    }
}

extension JSONValue {
    fileprivate subscript(key: String) -> JSONValue? { objectValue?[key] }
}
