/// Password length (contract 2a): 10–256 Unicode scalars, counted on the password exactly as
/// sent (no trimming, no normalisation).
public enum PasswordRule {
    public enum Verdict: Equatable, Sendable {
        case ok
        /// Fewer than 10 scalars: `weak_password`.
        case weak
        /// More than 256 scalars: `invalid_param`.
        case tooLong
    }

    public static let minScalars = 10
    public static let maxScalars = 256

    public static func check(_ password: String) -> Verdict {
        let count = password.unicodeScalars.count
        if count < minScalars { return .weak }
        if count > maxScalars { return .tooLong }
        return .ok
    }
}
