// crmkit in a Swift app: a small shop keeps its customers on the device and knows who is worth a
// retention offer. Built and run by scripts/test-swift.sh; in an iOS app, the database goes in
// the Application Support directory and the calls run off the main actor the same way.
import CrmKit
import Foundation

/// What the app's screens call: one Crm for the app's lifetime, plain values in and out.
final class ShopCrm: @unchecked Sendable {
    private let crm: Crm

    init(directory: URL) throws {
        crm = try Crm.open(path: directory.appendingPathComponent("shop-crm.db").path)
    }

    /// Sign-up form: a prospect with an e-mail and a newsletter choice. Returns the customer's id.
    func signUp(name: String, email: String, newsletter: Bool) throws -> String {
        do {
            return try crm.createCustomer(customer: NewCustomer(
                name: name,
                kind: .person,
                stage: .prospect,
                identities: [IdentityKey(kind: .email, value: email)],
                consents: [ConsentChoice(purpose: "newsletter", channel: .email, status: newsletter ? .granted : .denied)],
                source: "app:signup"
            )).id
        } catch CrmError.Conflict {
            return try crm.lookup(idOrKey: email).id // signed up before: same customer
        }
    }

    /// Checkout: the order id makes the write safe to retry (offline queue, flaky network).
    func checkout(customerId: String, orderId: String, total: String, at: Date) throws {
        _ = try crm.record(interaction: NewInteraction(
            customerId: customerId,
            occurredAt: at,
            kind: .purchase(total: Money(amount: total, currency: "EUR")),
            channel: .web,
            idempotencyKey: "order:\(orderId)"
        ))
        if try crm.customer(id: customerId).stage != .customer {
            _ = try crm.updateCustomer(id: customerId, changes: [.setStage(stage: .customer)], source: "app:checkout")
        }
    }

    /// A nightly job: refit the models on the device's purchases.
    func refreshScores(now: Date) throws -> ValueFit {
        try crm.fitValue(options: ValueOptions(asOf: now, currency: "EUR"))
    }

    /// The customers to win back: valuable, but probably drifting away.
    func atRisk(limit: Int) throws -> [(Customer, CustomerScore)] {
        try crm.topScores(limit: 100).filter { $0.pAlive < 0.5 }.prefix(limit).map { (try crm.customer(id: $0.customerId), $0) }
    }

    func explain(email: String) throws -> String {
        try crm.explainValue(customerId: try crm.lookup(idOrKey: email).id).text
    }

    func revenue() throws -> [Money] { try crm.summary(top: 0).revenue }

    /// Segments and a playbook, defined at start-up (defining them again unchanged writes nothing).
    /// "regulars" fills as purchases arrive; "drifting" is on the model's output, so it fills when
    /// scores are stored. Entering "regulars" makes a task for the shop and asks the app for a coupon.
    func defineAutomation() throws {
        _ = try crm.defineSegment(segment: SegmentDefinition(name: "regulars", kind: .dynamic,
                                                             rule: "count(purchase) >= 10", description: "ten purchases or more"))
        _ = try crm.defineSegment(segment: SegmentDefinition(name: "drifting", kind: .dynamic,
                                                             rule: "segment(\"regulars\") and p_alive < 0.5"))
        _ = try crm.definePlaybook(playbook: Playbook(name: "thank-regulars", segment: "regulars", actions: [
            .createTask(title: "Send a thank-you card", dueInDays: 7, assignee: "shop"),
            .emit(action: "push_coupon", payloadJson: #"{"pct":10}"#),
        ]))
    }

    /// Events as they happen (on the writing thread: hand them on, do not block). Keep the handle.
    func listen(_ listener: CrmListener) -> ListenerHandle { crm.addListener(listener: listener) }

    /// The durable way: a sync job reads the outbox from its cursor and acknowledges what it sent.
    func syncEvents(send: ([Event]) throws -> Void) throws -> Int {
        var sent = 0
        while true {
            let batch = try crm.pollEvents(consumer: "server-sync", limit: 500)
            guard let last = batch.last else { return sent }
            try send(batch) // if this throws, the batch comes again next time
            try crm.ackEvents(consumer: "server-sync", seq: last.seq)
            sent += batch.count
        }
    }

    func segmentSizes() throws -> [String: UInt64] {
        Dictionary(uniqueKeysWithValues: try crm.segmentSizes().map { ($0.segment, $0.members) })
    }

    func whyIn(_ segment: String, customerId: String) throws -> String {
        try crm.explainSegment(name: segment, customerId: customerId).predicates.map { "\($0.predicate): \($0.holds)" }.joined(separator: ", ")
    }

    func openTasks() throws -> [CrmTask] { try crm.tasks(query: TaskQuery(status: .open, limit: 1000)) }
    func firstMember(_ segment: String) throws -> String? { try crm.segmentMembers(name: segment, limit: 1).first }
}

/// The app's reaction to events: counts them, and would send a push for the playbook's coupons.
final class ShopListener: CrmListener, @unchecked Sendable {
    private let lock = NSLock()
    private(set) var counts: [String: Int] = [:]
    private(set) var coupons = 0

    func onEvent(event: Event) throws {
        lock.lock(); defer { lock.unlock() }
        counts[event.typeName, default: 0] += 1
        if case .action(_, let action, _) = event.payload, action == "push_coupon" { coupons += 1 }
    }
}

let directory = URL(fileURLWithPath: CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "build/example")
try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
try? FileManager.default.removeItem(at: directory.appendingPathComponent("shop-crm.db"))
let start = ISO8601DateFormatter().date(from: "2024-01-08T10:00:00Z")!
let shop = try ShopCrm(directory: directory)
try shop.defineAutomation()
let listener = ShopListener()
let handle = shop.listen(listener)

// Two "screens" writing at once, as an app's background work does.
DispatchQueue.concurrentPerform(iterations: 40) { n in
    do {
        let id = try shop.signUp(name: "Customer \(n)", email: "c\(n)@example.org", newsletter: n % 2 == 0)
        // Customer n buys every 1 to 5 weeks, from week n % 7, and stops some time in the year.
        let lastWeek = 8 + (n * 13) % 36
        var week = n % 7
        while week <= lastWeek {
            let at = start.addingTimeInterval(Double(week * 7 + n % 5) * 86_400)
            try shop.checkout(customerId: id, orderId: "\(n)-\(week)", total: "\(20 + 5 * (n % 9)).90", at: at)
            week += 1 + n % 5
        }
    } catch {
        print("customer \(n): \(error)")
    }
}
_ = try shop.signUp(name: "Customer 3", email: "C3@Example.org", newsletter: true) // no duplicate

let fit = try shop.refreshScores(now: ISO8601DateFormatter().date(from: "2024-10-31T23:59:59Z")!)
print("revenue \(try shop.revenue().map { "\($0.amount) \($0.currency)" }.joined(separator: ", "))")
let params = fit.model.purchaseFit.parameters.map { "\($0.name)=\(String(format: "%.4g", $0.value))" }.joined(separator: ", ")
print("model v\(fit.model.version) (\(fit.model.purchaseModel)) on \(fit.customersScored) customers: \(params)")
print("worth winning back:")
for (c, s) in try shop.atRisk(limit: 3) {
    print("  \(c.name)  P(alive) \(String(format: "%.2f", s.pAlive))  CLV \(String(format: "%.2f", s.clv ?? 0)) EUR  \(s.segment)")
}
print(try shop.explain(email: "c2@example.org"))

print("segments: \(try shop.segmentSizes().sorted { $0.key < $1.key })")
if let member = try shop.firstMember("regulars") { print("why in regulars: \(try shop.whyIn("regulars", customerId: member))") }
print("events seen by the listener: \(listener.counts.sorted { $0.key < $1.key })")
print("coupons pushed: \(listener.coupons), open tasks: \(try shop.openTasks().count)")
print("events synced from the outbox: \(try shop.syncEvents { _ in /* POST them to the server */ })")
handle.unsubscribe()
do {
    try shop.checkout(customerId: "not-an-id", orderId: "x", total: "1.00", at: start)
} catch let e as CrmError {
    print("refused: \(e)")
}
