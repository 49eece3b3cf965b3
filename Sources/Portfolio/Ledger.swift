import Money

/// Weighted average cost, exactly as contract 2b states it: no I/O, no rounding but the two
/// quotients the contract names (`removed`, `averageCost`), each rounded half-to-even to 10
/// fractional digits, once.
public struct Holding: Sendable, Equatable {
    public var quantity: ExactDecimal
    public var costBasis: ExactDecimal

    public static let empty = Holding(quantity: .zero, costBasis: .zero)

    public init(quantity: ExactDecimal, costBasis: ExactDecimal) {
        self.quantity = quantity
        self.costBasis = costBasis
    }

    public var isEmpty: Bool { quantity.isZero }

    /// round10(costBasis ÷ quantity); nil for an empty holding.
    public var averageCost: ExactDecimal? { costBasis.divided(by: quantity, scale: 10) }
}

public enum Side: String, Sendable {
    case buy, sell
}

/// One transaction's effect on its holding and on the portfolio's realized P&L.
public struct LedgerStep: Sendable, Equatable {
    public let holding: Holding
    public let realizedPnlChange: ExactDecimal
}

public enum LedgerRefusal: Error, Sendable, Equatable {
    /// A sell of more than is held; `held` is what is.
    case insufficientQuantity(held: ExactDecimal)
    /// The holding's quantity or cost basis would pass 30 integer digits.
    case tooLarge
}

public enum Ledger {
    /// Integer digits a holding's quantity and cost basis may have at most (contract 2b).
    public static let maxIntegerDigits = 30

    public static func apply(_ side: Side, quantity q: ExactDecimal, price p: ExactDecimal, fee f: ExactDecimal,
                             to h: Holding) -> Result<LedgerStep, LedgerRefusal> {
        let next: Holding
        let realized: ExactDecimal
        switch side {
        case .buy:
            next = Holding(quantity: h.quantity + q, costBasis: h.costBasis + q * p + f)
            realized = .zero
        case .sell:
            guard q <= h.quantity else { return .failure(.insufficientQuantity(held: h.quantity)) }
            let removed: ExactDecimal
            if q == h.quantity {
                removed = h.costBasis
            } else {
                // quantity > q > 0 here, so the division is defined.
                removed = (h.costBasis * q).divided(by: h.quantity, scale: 10) ?? h.costBasis
            }
            next = Holding(quantity: h.quantity - q, costBasis: h.costBasis - removed)
            realized = q * p - f - removed
        }
        guard next.quantity.integerDigitCount <= maxIntegerDigits, next.costBasis.integerDigitCount <= maxIntegerDigits else {
            return .failure(.tooLarge)
        }
        return .success(LedgerStep(holding: next, realizedPnlChange: realized))
    }

    /// A recorded transaction, for replays.
    public struct Entry: Sendable {
        public let symbol: String
        public let side: Side
        public let quantity: ExactDecimal
        public let price: ExactDecimal
        public let fee: ExactDecimal

        public init(symbol: String, side: Side, quantity: ExactDecimal, price: ExactDecimal, fee: ExactDecimal) {
            self.symbol = symbol
            self.side = side
            self.quantity = quantity
            self.price = price
            self.fee = fee
        }
    }

    /// Every holding and the realized P&L from transactions in recorded order (what
    /// `deleteTransaction` recomputes); the first refusal stops it.
    public static func replay(_ entries: [Entry]) -> Result<(holdings: [String: Holding], realizedPnl: ExactDecimal), LedgerRefusal> {
        var holdings: [String: Holding] = [:]
        var realized = ExactDecimal.zero
        for e in entries {
            switch apply(e.side, quantity: e.quantity, price: e.price, fee: e.fee, to: holdings[e.symbol] ?? .empty) {
            case .failure(let refusal): return .failure(refusal)
            case .success(let step):
                holdings[e.symbol] = step.holding
                realized = realized + step.realizedPnlChange
            }
        }
        return .success((holdings, realized))
    }
}
