// The Swift suite of crmkit's UniFFI bindings, the same coverage as the Kotlin one
// (bindings/uniffi/tests/kotlin/CrmKitTest.kt). Built and run by scripts/test-swift.sh.
//
// Arguments: WORK_DIR CDNOW_MASTER_TXT EXPECTED_DIR (see bindings/uniffi/tests/expected-from-cli.sh).
// Each test prints "ok" or "FAIL"; the last line is "N passed, N failed"; the exit code is
// non-zero on any failure.
import CrmKit
import Foundation

var passed = 0
var failed = 0

struct CheckFailed: Error, CustomStringConvertible {
    let description: String
}

func test(_ name: String, _ body: () throws -> Void) {
    let started = Date()
    do {
        try body()
        passed += 1
        print("ok    \(name) (\(Int(Date().timeIntervalSince(started) * 1000)) ms)")
    } catch {
        failed += 1
        print("FAIL  \(name): \(error)")
    }
}

func check(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw CheckFailed(description: message()) }
}

func checkEq<T: Equatable>(_ expected: T, _ actual: T, _ what: String) throws {
    if expected != actual { throw CheckFailed(description: "\(what): expected <\(expected)>, got <\(actual)>") }
}

/// The CrmError a call throws (any other outcome fails the test).
func crmError(_ what: String, _ body: () throws -> Void) throws -> CrmError {
    do {
        try body()
    } catch let e as CrmError {
        return e
    }
    throw CheckFailed(description: "\(what): nothing was thrown")
}

func isValidation(_ e: CrmError) -> Bool { if case .Validation = e { return true }; return false }
func isNotFound(_ e: CrmError) -> Bool { if case .NotFound = e { return true }; return false }
func isConflict(_ e: CrmError) -> Bool { if case .Conflict = e { return true }; return false }
func isStorage(_ e: CrmError) -> Bool { if case .Storage = e { return true }; return false }
func internalMessage(_ e: CrmError) -> String? { if case .Internal(let m) = e { return m }; return nil }
func message(_ e: CrmError) -> String {
    switch e {
    case .Validation(let m), .NotFound(let m), .Conflict(let m), .Storage(let m), .Internal(let m): return m
    }
}

func date(_ iso: String) -> Date {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    if let d = f.date(from: iso) { return d }
    f.formatOptions = [.withInternetDateTime]
    return f.date(from: iso)!
}

func usd(_ amount: String) -> Money { Money(amount: amount, currency: "USD") }
func email(_ address: String) -> IdentityKey { IdentityKey(kind: .email, value: address) }
func person(_ name: String, _ keys: [IdentityKey] = [], tags: [String] = []) -> NewCustomer {
    NewCustomer(name: name, kind: .person, stage: .prospect, identities: keys, tags: tags)
}
func purchase(_ customerId: String, _ at: String, _ amount: String, key: String? = nil) -> NewInteraction {
    NewInteraction(customerId: customerId, occurredAt: date(at), kind: .purchase(total: usd(amount)), idempotencyKey: key)
}

let cdnowMapping = InteractionMapping(
    format: .whitespace,
    columns: ["customer": "customer_id", "timestamp": "date", "amount": "dollar_value"],
    customerKey: .external(system: "cdnow"),
    properties: ["number_of_cds"],
    defaultCurrency: "USD",
    timestampFormat: "%Y%m%d"
)
let csvOrders = InteractionMapping(
    format: .csv,
    columns: ["customer": "email", "timestamp": "date", "amount": "total"],
    customerKey: .email,
    defaultCurrency: "USD"
)

final class Collector: ImportListener, @unchecked Sendable {
    var events: [ImportProgress] = []
    func onProgress(progress: ImportProgress) { events.append(progress) }
}

let args = CommandLine.arguments
guard args.count == 4 else {
    print("usage: crmkit-swift-tests WORK_DIR CDNOW_MASTER_TXT EXPECTED_DIR")
    exit(2)
}
let work = URL(fileURLWithPath: args[1])
try? FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
let cdnowPath = args[2]
let expectedDir = URL(fileURLWithPath: args[3])
let dbPath = work.appendingPathComponent("crm.db").path

test("the library loads and reports its version") {
    try check(!crmkitVersion().isEmpty, "empty version")
}

var crm = try Crm.open(path: dbPath)
var adaId = ""

test("customers: create, normalised lookup, update, list, audit") {
    try crm.defineField(field: FieldDef(name: "plan", fieldType: .string))
    try crm.defineField(field: FieldDef(name: "seats", fieldType: .integer))
    try crm.defineField(field: FieldDef(name: "credit", fieldType: .decimal))
    let ada = try crm.createCustomer(customer: NewCustomer(
        name: "Ada Lovelace", kind: .person, stage: .lead,
        identities: [email(" Ada@Example.ORG "), IdentityKey(kind: .phone, value: "+44 20 7946 0018")],
        tags: ["newsletter", "beta"],
        attributes: ["plan": .string(value: "pro"), "seats": .integer(value: 3), "credit": .decimal(value: "12.50")],
        consents: [ConsentChoice(purpose: "marketing", channel: .email, status: .granted)],
        source: "signup-form"
    ))
    adaId = ada.id
    try checkEq(["beta", "newsletter"], ada.tags, "tags are sorted")
    try checkEq(UInt64(1), ada.revision, "revision")
    try checkEq(ada, try crm.lookup(idOrKey: "ada@example.org"), "lookup by normalised e-mail")
    try checkEq(ada, try crm.customer(id: ada.id), "customer by id")
    try checkEq(ada, try crm.find(key: email("ADA@example.org")), "find by key")
    try checkEq(nil, try crm.find(key: email("nobody@example.org")), "find unknown")
    try checkEq(AttributeValue.decimal(value: "12.50"), ada.attributes["credit"], "decimals stay exact")

    let updated = try crm.updateCustomer(id: ada.id, changes: [
        .setStage(stage: .customer),
        .setAttribute(name: "seats", value: .integer(value: 40)),
        .addTag(tag: "vip"),
        .removeTag(tag: "beta"),
    ], source: "agent:sam")
    try checkEq(LifecycleStage.customer, updated.stage, "stage")
    try checkEq(UInt64(2), updated.revision, "revision after update")
    try checkEq([nil, LifecycleStage.lead], updated.stageHistory.map { $0.from }, "stage history")
    try checkEq(UInt64(2), try crm.updateCustomer(id: ada.id, changes: [.addTag(tag: "vip")]).revision, "no change, no write")

    _ = try crm.createCustomer(customer: person("Bo Bellamy", [email("bo@example.org")], tags: ["vip"]))
    _ = try crm.createCustomer(customer: NewCustomer(name: "Initech", kind: .organisation, stage: .custom(name: "Trial"),
                                                     identities: [IdentityKey(kind: .external(system: "billing"), value: "C-17")]))
    try checkEq(LifecycleStage.custom(name: "trial"), try crm.lookup(idOrKey: "ext:billing:C-17").stage, "custom stage")
    let vips = try crm.listCustomers(query: CustomerQuery(tag: "vip"))
    try checkEq(Set(["Ada Lovelace", "Bo Bellamy"]), Set(vips.items.map { $0.name }), "customers tagged vip")
    let page = try crm.listCustomers(query: CustomerQuery(limit: 2))
    try checkEq(2, page.items.count, "page size")
    try checkEq(1, try crm.listCustomers(query: CustomerQuery(after: page.next, limit: 2)).items.count, "second page")

    let audit = try crm.auditLog(customerId: ada.id)
    try checkEq(["customer", "stage", "tags", "attributes.seats"], audit.map { $0.field }, "audit fields")
    try checkEq("\"customer\"", audit.first { $0.field == "stage" }?.newJson, "audit value as JSON")
}

test("interactions: exact money, idempotency, time ranges, summary") {
    let bo = try crm.lookup(idOrKey: "bo@example.org")
    try checkEq(UInt64(1), try crm.record(interaction: purchase(adaId, "2024-05-01T09:30:00Z", "0.10", key: "order-1")), "first id")
    try checkEq(nil, try crm.record(interaction: purchase(adaId, "2024-05-01T09:30:00Z", "0.10", key: "order-1")), "retry skipped")
    let ids = try crm.recordAll(interactions: [
        purchase(adaId, "2024-06-01T10:00:00.123Z", "0.20"),
        purchase(bo.id, "2024-06-02T10:00:00Z", "19.99"),
        NewInteraction(customerId: bo.id, occurredAt: date("2024-06-03T08:00:00Z"),
                       kind: .call(direction: .outbound, durationSecs: 300, outcome: "voicemail"),
                       channel: .phone, propertiesJson: ["agent": "\"sam\"", "attempt": "2"]),
    ])
    try checkEq(3, ids.compactMap { $0 }.count, "batch ids")
    let log = try crm.interactions(customerId: adaId)
    let amounts = log.map { i -> String in if case .purchase(let total, _) = i.kind { return total.amount }; return "" }
    try checkEq(["0.10", "0.20"], amounts, "amounts as written")
    try check(abs(log[1].occurredAt.timeIntervalSince(date("2024-06-01T10:00:00.123Z"))) < 2e-6, "milliseconds survive")
    try checkEq(1, try crm.interactions(customerId: adaId, from: date("2024-05-15T00:00:00Z")).count, "from")
    try checkEq(1, try crm.interactions(customerId: adaId, to: date("2024-05-15T00:00:00Z")).count, "to")
    let call = try crm.interactions(customerId: bo.id).last!
    try checkEq(["agent": "\"sam\"", "attempt": "2"], call.propertiesJson, "properties")
    let s = try crm.summary(top: 1)
    try checkEq([usd("20.29")], s.revenue, "revenue is exact (0.10 + 0.20 + 19.99)")
    try checkEq("Bo Bellamy", s.topCustomers.first?.customer.name, "top customer")
}

test("imports from text: rejects file, idempotency, progress listener") {
    let csv = "email,date,total\nada@example.org,2024-07-01,5.00\ncarol@example.org,2024-07-02,7.50\n" +
        "broken,2024-07-03,1.00\nada@example.org,2024-07-04,twelve\n"
    let rejects = work.appendingPathComponent("rejects.csv").path
    let listener = Collector()
    let options = ImportOptions(createMissingCustomers: true, rejectsPath: rejects, batchSize: 1)
    let r = try crm.importInteractions(source: .text(name: "orders.csv", text: csv), mapping: csvOrders, options: options, listener: listener)
    try checkEq(UInt64(2), r.interactionsWritten, "written")
    try checkEq(UInt64(2), r.rejected, "rejected")
    try check((try String(contentsOfFile: rejects, encoding: .utf8)).contains("twelve"), "the bad row is in the rejects file")
    try checkEq(UInt64(4), listener.events.last?.rowsRead, "progress events")
    let again = try crm.importInteractions(source: .text(name: "orders.csv", text: csv), mapping: csvOrders, options: options)
    try checkEq(UInt64(0), again.interactionsWritten, "second import writes nothing")
    let people = "email,name,stage\ndave@example.org,Dave,lead\nada@example.org,Ada King,customer\n"
    let cm = CustomerMapping(format: .csv, key: .email, columns: ["key": "email", "name": "name", "stage": "stage"])
    let rc = try crm.importCustomers(source: .text(name: "people.csv", text: people), mapping: cm, options: ImportOptions())
    try checkEq([UInt64(1), UInt64(1)], [rc.customersCreated, rc.customersUpdated], "created, updated")
}

test("errors: Validation") {
    let e = try crmError("bad e-mail") { _ = try crm.createCustomer(customer: person("Nobody", [email("not-an-address")])) }
    try check(isValidation(e) && message(e).contains("email"), "\(e)")
    try check(isValidation(try crmError("comma") { _ = try crm.record(interaction: purchase(adaId, "2024-01-01T00:00:00Z", "12,50")) }), "comma")
    try check(isValidation(try crmError("negative") { _ = try crm.record(interaction: purchase(adaId, "2024-01-01T00:00:00Z", "-1")) }), "negative")
    try check(isValidation(try crmError("bad id") { _ = try crm.customer(id: "not-a-uuid") }), "bad id")
    try check(isValidation(try crmError("unit") {
        _ = try crm.fitValue(options: ValueOptions(asOf: date("2024-12-31T00:00:00Z"), timeUnit: "fortnight"))
    }), "time unit")
}

test("errors: NotFound") {
    let e = try crmError("ghost") { _ = try crm.lookup(idOrKey: "ghost@example.org") }
    try check(isNotFound(e), "\(e)")
    try checkEq("customer not found: email:ghost@example.org", message(e), "message")
    let dave = try crm.lookup(idOrKey: "dave@example.org")
    try check(isNotFound(try crmError("no scores") { _ = try crm.explainValue(customerId: dave.id) }), "no scores")
}

test("errors: Conflict") {
    try check(isConflict(try crmError("duplicate key") { _ = try crm.createCustomer(customer: person("Imposter", [email("ADA@example.org")])) }), "key")
    try check(isConflict(try crmError("field type") { try crm.defineField(field: FieldDef(name: "seats", fieldType: .string)) }), "field")
}

test("errors: Storage") {
    let garbage = work.appendingPathComponent("not-a-database.db")
    try String(repeating: "this is not SQLite ", count: 400).write(to: garbage, atomically: true, encoding: .utf8)
    try check(isStorage(try crmError("garbage") { _ = try Crm.open(path: garbage.path) }), "not a database")
    try check(isStorage(try crmError("missing") {
        _ = try crm.importInteractions(source: .file(path: work.appendingPathComponent("missing.csv").path), mapping: cdnowMapping, options: ImportOptions())
    }), "missing file")
}

test("a panic in Rust arrives as CrmError.Internal and the app goes on") {
    let e = try crmError("panic") { try panicForTesting(message: "boom") }
    try checkEq("internal error in crmkit: boom", internalMessage(e), "message")
    try checkEq("Ada King", try crm.lookup(idOrKey: "ada@example.org").name, "still usable")
}

test("concurrent use from two threads") {
    let lock = NSLock()
    var errors: [Error] = []
    var conflicts = 0
    let shared = crm
    DispatchQueue.concurrentPerform(iterations: 2) { t in
        do {
            for i in 0..<100 {
                let c = try shared.createCustomer(customer: person("T\(t)-\(i)", [email("t\(t)-\(i)@example.org")]))
                _ = try shared.record(interaction: purchase(c.id, "2024-09-01T12:00:00Z", "\(i).99"))
                _ = try shared.lookup(idOrKey: "t\(t)-\(i)@example.org")
                do {
                    _ = try shared.updateCustomer(id: adaId, changes: [.setAttribute(name: "seats", value: .integer(value: Int64(t * 1000 + i)))])
                } catch CrmError.Conflict {
                    lock.lock(); conflicts += 1; lock.unlock()
                }
            }
        } catch {
            lock.lock(); errors.append(error); lock.unlock()
        }
    }
    try check(errors.isEmpty, "errors: \(errors)")
    let made = try crm.listCustomers(query: CustomerQuery(nameContains: "T", limit: 1000)).items
        .filter { $0.name.hasPrefix("T0-") || $0.name.hasPrefix("T1-") }
    try checkEq(200, made.count, "customers created")
    let seats = try crm.auditLog(customerId: adaId, limit: 1000).filter { $0.field == "attributes.seats" }.count
    try checkEq(1 + 200 - conflicts, seats, "every update not refused as a conflict is in the audit log")
}

test("fit and score on the database file") {
    for n in 0..<30 {
        let c = try crm.createCustomer(customer: person("Shopper \(n)", [IdentityKey(kind: .external(system: "shop"), value: "S\(n)")]))
        for k in 0...(n % 6) {
            let day = 1 + (n * 7 + k * 53) % 360
            let at = date("2023-01-01T12:00:00Z").addingTimeInterval(Double(day) * 86_400)
            _ = try crm.record(interaction: NewInteraction(customerId: c.id, occurredAt: at, kind: .purchase(total: usd("\(10 + n).\(k)0"))))
        }
    }
    let fit = try crm.fitValue(options: ValueOptions(asOf: date("2023-12-31T23:59:59Z"), currency: "USD"))
    try checkEq(PurchaseModel.bgNbd, fit.model.purchaseModel, "model")
    try checkEq(["r", "alpha", "a", "b"], fit.model.purchaseFit.parameters.map { $0.name }, "parameters")
    let s5 = try crm.score(customerId: try crm.lookup(idOrKey: "ext:shop:S5").id)!
    try checkEq(5.0, s5.frequency, "frequency of six purchases on six days")
    try check((0.0...1.0).contains(s5.pAlive), "P(alive) in range")
    let top = try crm.topScores(limit: 5)
    try checkEq(5, top.count, "top 5")
    let why = try crm.explainValue(customerId: try crm.lookup(idOrKey: "ext:shop:S5").id)
    try checkEq(s5, why.score, "explanation's scores")
    try checkEq(UInt64(try crm.scores().count), fit.customersScored, "all scores stored")
    let holdout = try crm.holdoutCheck(calibrationEnd: date("2023-09-30T23:59:59Z"), options: ValueOptions(asOf: date("2023-12-31T23:59:59Z")))
    try check(holdout.customers > 0 && !holdout.trackingActual.isEmpty, "holdout check")
}

test("closing and reopening the database file") {
    let before = try crm.summary(top: 3)
    let ada = try crm.lookup(idOrKey: "ada@example.org")
    crm = try Crm.open(path: dbPath) // the old object is released (and the database closed) here
    try checkEq(dbPath, crm.path(), "path")
    try checkEq(before, try crm.summary(top: 3), "summary after reopening")
    try checkEq(ada, try crm.lookup(idOrKey: "ada@example.org"), "customer after reopening")
    try checkEq(UInt64(0), try Crm.openInMemory().summary().customers, "in-memory database is separate")
}

// Segments, playbooks, tasks and events: a database file of their own, closed and reopened.
let autoPath = work.appendingPathComponent("automation.db").path
var auto = try Crm.open(path: autoPath)
let now = Date()
func daysAgo(_ days: Double) -> Date { now.addingTimeInterval(-days * 86_400) }
func buy(_ customerId: String, _ at: Date, _ amount: String) throws {
    _ = try auto.record(interaction: NewInteraction(customerId: customerId, occurredAt: at, kind: .purchase(total: usd(amount))))
}
func isEntry(_ e: Event) -> Bool { if case .segmentEntered = e.payload { return true }; return false }

/// Keeps every event it is given, and whether it came on the main thread (where the tests write).
final class EventCollector: CrmListener, @unchecked Sendable {
    private let lock = NSLock()
    private var seen: [Event] = []
    private var mainThread: [Bool] = []
    var events: [Event] { lock.lock(); defer { lock.unlock() }; return seen }
    var onMainThread: [Bool] { lock.lock(); defer { lock.unlock() }; return mainThread }
    func onEvent(event: Event) throws {
        lock.lock(); defer { lock.unlock() }
        seen.append(event)
        mainThread.append(Thread.isMainThread)
    }
}

struct ListenerBroke: Error, CustomStringConvertible {
    let description = "the app's listener broke"
}

final class ThrowingListener: CrmListener, @unchecked Sendable {
    func onEvent(event: Event) throws { throw ListenerBroke() }
}

test("segments: a dynamic segment fills as purchases arrive; members, explain, edit, manual lists") {
    let rule = "sum(purchase, 365d) >= 100 USD and not tag \"staff\""
    let seg = try auto.defineSegment(segment: SegmentDefinition(name: "big spenders", kind: .dynamic, rule: rule,
                                                                description: "100 USD or more in a year"))
    try checkEq(rule, seg.rule, "the rule's text form")
    try checkEq(UInt64(1), seg.version, "version")
    try checkEq(SegmentKind.dynamic, seg.kind, "kind")
    let ada = try auto.createCustomer(customer: person("Ada", [email("ada@example.org")]))
    let bo = try auto.createCustomer(customer: person("Bo", [email("bo@example.org")]))
    let sam = try auto.createCustomer(customer: person("Sam", [email("sam@example.org")], tags: ["staff"]))
    try buy(ada.id, daysAgo(40), "60.00")
    try checkEq([String](), try auto.segmentsOf(customerId: ada.id), "60 USD: not yet")
    try buy(ada.id, daysAgo(3), "45.50")
    try buy(bo.id, daysAgo(2), "30.00")
    try buy(sam.id, daysAgo(1), "500.00")
    try checkEq([ada.id], try auto.segmentMembers(name: "big spenders"), "members")
    try checkEq(["big spenders"], try auto.segmentsOf(customerId: ada.id), "Ada's segments")
    try checkEq([SegmentSize(segment: "big spenders", members: 1)], try auto.segmentSizes(), "sizes")
    let rows = try auto.memberships(customerId: ada.id)
    try checkEq(1, rows.count, "one membership row")
    try check(rows[0].segment == "big spenders" && rows[0].member && rows[0].version == 1, "Ada's membership row: \(rows)")

    let yes = try auto.explainSegment(name: "big spenders", customerId: ada.id)
    try checkEq([PredicateCheck(predicate: "sum(purchase, 365d) >= 100 USD", holds: true),
                 PredicateCheck(predicate: "tag \"staff\"", holds: false)], yes.predicates, "Ada's predicates")
    try check(yes.member && yes.matchesNow, "\(yes)")
    let no = try auto.explainSegment(name: "big spenders", customerId: sam.id)
    try checkEq([true, true], no.predicates.map { $0.holds }, "Sam spends, but is staff")
    try check(!no.member && !no.matchesNow, "\(no)")

    let entries = try auto.eventsAfter(after: 0, limit: 1000).filter(isEntry)
    try checkEq([ada.id], entries.compactMap { $0.customerId }, "one entry event")
    guard case .segmentEntered(let segment, let version, let reason) = entries[0].payload else {
        throw CheckFailed(description: "not an entry: \(entries[0])")
    }
    try checkEq("big spenders", segment, "entry event's segment")
    try checkEq(UInt64(1), version, "entry event's version")
    try check(reason.contains { $0.contains("sum(purchase, 365d)") }, "the reason names the predicate: \(reason)")
    try checkEq([MembershipDiff](), try auto.verifySegments(), "incremental membership = full re-evaluation")

    // Editing the rule makes version 2 and recomputes the membership: Bo's 30 USD now count.
    let v2 = try auto.defineSegment(segment: SegmentDefinition(name: "big spenders", kind: .dynamic,
                                                               rule: "sum(purchase, 365d) >= 25 USD and not tag \"staff\""))
    try checkEq(UInt64(2), v2.version, "version after the edit")
    try checkEq(Set([ada.id, bo.id]), Set(try auto.segmentMembers(name: "big spenders")), "members after the edit")
    try checkEq(v2, try auto.segment(name: "big spenders"), "segment by name")

    let beta = try auto.defineSegment(segment: SegmentDefinition(name: "beta testers", kind: .manual))
    try checkEq(nil, beta.rule, "a manual segment has no rule")
    try checkEq(true, try auto.addToSegment(name: "beta testers", customerId: bo.id), "added by hand")
    try checkEq(false, try auto.addToSegment(name: "beta testers", customerId: bo.id), "added again: nothing")
    try checkEq(["beta testers", "big spenders"], try auto.segmentsOf(customerId: bo.id).sorted(), "Bo's segments")
    try checkEq(true, try auto.removeFromSegment(name: "beta testers", customerId: bo.id), "removed by hand")
    try checkEq(["beta testers", "big spenders"], try auto.segments().map { $0.name }, "segments by name")
}

test("playbooks: a listener gets segment_entered, task_created and the app's action; tasks") {
    try auto.defineField(field: FieldDef(name: "welcomed", fieldType: .bool))
    _ = try auto.defineSegment(segment: SegmentDefinition(name: "vip", kind: .dynamic, rule: "tag \"vip\""))
    let playbook = Playbook(name: "welcome-vip", segment: "vip", actions: [
        .createTask(title: "Welcome call", dueInDays: 2, assignee: "sam"),
        .emit(action: "send_coupon", payloadJson: "{\"pct\":10}"),
        .setAttribute(field: "welcomed", value: .bool(value: true)),
    ], condition: "not tag \"staff\"")
    try checkEq(playbook, try auto.definePlaybook(playbook: playbook), "defined")
    try checkEq([playbook], try auto.playbooks(), "stored")

    let collector = EventCollector()
    var handle: ListenerHandle? = auto.addListener(listener: collector)
    let cy = try auto.createCustomer(customer: person("Cy", [email("cy@example.org")]))
    _ = try auto.updateCustomer(id: cy.id, changes: [.addTag(tag: "vip")])
    let seen = collector.events
    let types = seen.map { $0.typeName }
    for t in ["customer_created", "customer_updated", "segment_entered", "task_created", "action"] {
        try check(types.contains(t), "\(t) in \(types)")
    }
    try checkEq(seen.map { $0.seq }.sorted(), seen.map { $0.seq }, "events arrive in order")
    try check(collector.onMainThread.allSatisfy { $0 }, "on the writing thread")
    guard let entered = seen.first(where: isEntry),
          let created = seen.first(where: { $0.typeName == "task_created" }),
          case .taskCreated(let task) = created.payload,
          let action = seen.first(where: { $0.typeName == "action" })
    else { throw CheckFailed(description: "missing events: \(types)") }
    try checkEq(EventPayload.segmentEntered(segment: "vip", version: 1, reason: ["tag \"vip\" became true"]), entered.payload, "segment_entered")
    try checkEq(cy.id, entered.customerId, "about Cy")
    try check(entered.seq < created.seq, "the entry comes before what the playbook did")
    let got: [String?] = [task.title, task.assignee, task.playbook, task.customerId]
    try checkEq(["Welcome call", "sam", "welcome-vip", cy.id], got, "the task")
    try checkEq(TaskStatus.open, task.status, "open")
    try check(abs(task.due.timeIntervalSince(task.createdAt) - 2 * 86_400) < 1e-3, "due in 2 days")
    try checkEq(EventPayload.action(playbook: "welcome-vip", action: "send_coupon", payloadJson: "{\"pct\":10}"), action.payload, "the app's action")
    try checkEq(AttributeValue.bool(value: true), try auto.customer(id: cy.id).attributes["welcomed"], "attribute set by the playbook")

    try checkEq([task], try auto.tasks(query: TaskQuery(customerId: cy.id)), "the playbook's task")
    let byHand = try auto.createTask(customerId: cy.id, title: "Send the contract", dueInDays: 5, assignee: "kim")
    try checkEq(nil, byHand.playbook, "a task made by hand")
    let done = try auto.completeTask(id: task.id)
    try checkEq(TaskStatus.done, done.status, "completed")
    try check(done.completedAt != nil, "completion time")
    try checkEq(EventPayload.taskCompleted(task: done), collector.events.last?.payload, "task_completed")
    try checkEq([byHand], try auto.tasks(query: TaskQuery(customerId: cy.id, status: .open)), "open tasks")
    try checkEq([byHand], try auto.tasks(query: TaskQuery(assignee: "kim")), "Kim's tasks")

    // Once per entry: again only after an exit.
    _ = try auto.updateCustomer(id: cy.id, changes: [.addTag(tag: "regular")])
    try checkEq(1, try auto.tasks(query: TaskQuery(playbook: "welcome-vip")).count, "no new entry, no new task")
    _ = try auto.updateCustomer(id: cy.id, changes: [.removeTag(tag: "vip")])
    try check(collector.events.contains { $0.typeName == "segment_exited" }, "segment_exited")
    _ = try auto.updateCustomer(id: cy.id, changes: [.addTag(tag: "vip")])
    try checkEq(2, try auto.tasks(query: TaskQuery(playbook: "welcome-vip")).count, "re-entry fires again")

    try check(handle?.isActive() == true && handle?.failures() == 0, "active, no failures")
    try checkEq(UInt64(collector.events.count), handle?.delivered(), "delivered")
    handle = nil // releasing the handle unsubscribes
    let n = collector.events.count
    _ = try auto.createCustomer(customer: person("Dee"))
    try checkEq(n, collector.events.count, "nothing once the handle is released")
}

test("a listener that throws does not break the write or the other listeners") {
    let good = EventCollector()
    let goodHandle = auto.addListener(listener: good)
    let bad = auto.addListener(listener: ThrowingListener())
    let eve = try auto.createCustomer(customer: person("Eve", [email("eve@example.org")]))
    try checkEq(eve, try auto.lookup(idOrKey: "eve@example.org"), "the write committed and returned normally")
    try checkEq(1, good.events.count, "the other listener got the event")
    try checkEq([UInt64(1), UInt64(1)], [bad.delivered(), bad.failures()], "delivered, failed")
    try check(bad.lastFailure()?.contains("the app's listener broke") == true, "the error is kept: \(String(describing: bad.lastFailure()))")
    try checkEq(UInt64(0), goodHandle.failures(), "the good listener")
    bad.unsubscribe()
    try check(!bad.isActive() && goodHandle.isActive(), "unsubscribed")
    _ = try auto.updateCustomer(id: eve.id, changes: [.addTag(tag: "newsletter")])
    try checkEq(2, good.events.count, "the good listener goes on")
    try checkEq(UInt64(1), bad.delivered(), "the removed one is not called")
    goodHandle.unsubscribe()
}

test("rules: a bad rule is CrmError.Validation with the line and column; nothing changes") {
    let before = try auto.segments()
    let e = try crmError("syntax") {
        _ = try auto.defineSegment(segment: SegmentDefinition(name: "broken", kind: .dynamic, rule: "tag \"vip\" and\n  days_since(purchase) >="))
    }
    try check(isValidation(e) && message(e).hasPrefix("rule, line 2, column "), "line and column: \(e)")
    let unknown = try crmError("unknown field") { _ = try auto.checkRule(rule: "attr.nope = 1") }
    try check(isValidation(unknown) && message(unknown).contains("nope"), "\(unknown)")
    try checkEq("count(purchase, 30d) >= 3", try auto.checkRule(rule: "count( purchase , 30d )>=3"), "canonical text")
    try check(isValidation(try crmError("no rule") {
        _ = try auto.defineSegment(segment: SegmentDefinition(name: "no rule", kind: .dynamic))
    }), "a dynamic segment needs a rule")
    let cycle = try crmError("cycle") {
        _ = try auto.defineSegment(segment: SegmentDefinition(name: "loop", kind: .dynamic, rule: "segment(\"loop\")"))
    }
    try check(isValidation(cycle) && message(cycle).contains("cycle"), "\(cycle)")
    try check(isValidation(try crmError("payload") {
        _ = try auto.definePlaybook(playbook: Playbook(name: "p", segment: "vip", actions: [.emit(action: "x", payloadJson: "{not json")]))
    }), "a payload that is not JSON")
    try check(isValidation(try crmError("condition") {
        _ = try auto.definePlaybook(playbook: Playbook(name: "p", segment: "vip", actions: [], condition: "p_alive <"))
    }), "a bad condition")
    try check(isNotFound(try crmError("segment") {
        _ = try auto.definePlaybook(playbook: Playbook(name: "p", segment: "nope", actions: []))
    }), "no such segment")
    try check(isConflict(try crmError("in use") { try auto.deleteSegment(name: "vip") }), "the playbook acts on it")
    try check(isNotFound(try crmError("task") { _ = try auto.completeTask(id: "0190a8e2-7f3c-7000-8000-000000000000") }), "no such task")
    try checkEq(before, try auto.segments(), "nothing changed")
    try checkEq(["welcome-vip"], try auto.playbooks().map { $0.name }, "playbooks unchanged")
}

test("events: poll and ack, at least once across closing and reopening the file") {
    let first = try auto.pollEvents(consumer: "mailer", limit: 1000)
    try check(first.count > 10, "\(first.count) events")
    try checkEq(first, try auto.pollEvents(consumer: "mailer", limit: 1000), "not acknowledged: the same events again")
    try checkEq(first, try auto.eventsAfter(after: 0, limit: 1000), "the whole outbox")
    let mid = first[first.count / 2].seq
    auto = try Crm.open(path: autoPath) // the old object is released (and the database closed) here
    try checkEq(first, try auto.pollEvents(consumer: "mailer", limit: 1000), "after reopening: still there")
    try auto.ackEvents(consumer: "mailer", seq: mid)
    try checkEq(mid, try auto.consumerCursor(consumer: "mailer"), "cursor")
    auto = try Crm.open(path: autoPath)
    try checkEq(first.filter { $0.seq > mid }, try auto.pollEvents(consumer: "mailer", limit: 1000), "after the ack and reopening")
    try checkEq(Array(first.prefix(3)), try auto.pollEvents(consumer: "sync", limit: 3), "consumers are independent")
    try auto.ackEvents(consumer: "mailer", seq: first[first.count - 1].seq)
    try checkEq([Event](), try auto.pollEvents(consumer: "mailer"), "all acknowledged")
    let fay = try auto.createCustomer(customer: person("Fay"))
    let next = try auto.pollEvents(consumer: "mailer")
    try checkEq([EventPayload.customerCreated(customer: fay)], next.map { $0.payload }, "the next event")
    try checkEq(first[first.count - 1].seq + 1, next.first?.seq, "sequence numbers go on")
    try check(isValidation(try crmError("empty consumer") { try auto.ackEvents(consumer: " ", seq: 1) }), "empty consumer")
}

test("advanceTo: a time-based segment changes as time passes") {
    let mem = try Crm.openInMemory()
    _ = try mem.defineSegment(segment: SegmentDefinition(name: "lapsed", kind: .dynamic,
                                                         rule: "count(purchase) > 0 and days_since(purchase) >= 90"))
    let gus = try mem.createCustomer(customer: person("Gus"))
    let bought = Date().addingTimeInterval(-(89 * 86_400 + 12 * 3_600))
    _ = try mem.record(interaction: NewInteraction(customerId: gus.id, occurredAt: bought, kind: .purchase(total: usd("20.00"))))
    try checkEq([String](), try mem.segmentsOf(customerId: gus.id), "day 89: not lapsed")
    let rows = try mem.memberships(customerId: gus.id)
    try checkEq(1, rows.count, "one membership row")
    try checkEq(false, rows[0].member, "not a member")
    try check(abs((rows[0].nextCheck ?? .distantPast).timeIntervalSince(bought.addingTimeInterval(90 * 86_400))) < 1e-3,
              "a re-check is scheduled for day 90: \(rows[0])")
    try checkEq(UInt64(0), try mem.advanceTo(now: Date()), "nothing due yet")
    try checkEq(UInt64(1), try mem.advanceTo(now: Date().addingTimeInterval(86_400)), "one re-check due")
    try checkEq(["lapsed"], try mem.segmentsOf(customerId: gus.id), "day 90: lapsed")
    try checkEq(EventPayload.segmentEntered(segment: "lapsed", version: 1, reason: ["days_since(purchase) >= 90 became true"]),
                try mem.eventsAfter(after: 0, limit: 100).last?.payload, "the entry, and the predicate that flipped")
}

test("objects: every field type round-trips, customer links, queries with paging, conflicts, history, events") {
    let mem = try Crm.openInMemory()
    let invoiceType = try mem.defineObjectType(name: "invoice", fields: [
        ObjectFieldSpec(name: "number", fieldType: .string, required: true, indexed: true),
        ObjectFieldSpec(name: "seats", fieldType: .integer, indexed: true),
        ObjectFieldSpec(name: "total", fieldType: .decimal, indexed: true),
        ObjectFieldSpec(name: "paid", fieldType: .bool),
        ObjectFieldSpec(name: "due", fieldType: .date),
        ObjectFieldSpec(name: "sentAt", fieldType: .datetime),
        ObjectFieldSpec(name: "labels", fieldType: .stringList),
        ObjectFieldSpec(name: "customer", fieldType: .customer),
    ])
    try checkEq(UInt64(1), invoiceType.revision, "type revision")
    try checkEq(ObjectFieldSpec(name: "customer", fieldType: .customer, indexed: true), invoiceType.fields.last, "a customer link is indexed")
    try checkEq([invoiceType], try mem.objectTypes(), "object types")
    try checkEq(invoiceType, try mem.objectType(name: "invoice"), "object type by name")
    try checkEq(nil, try mem.objectType(name: "nope"), "unknown type")

    let collector = EventCollector()
    let handle = mem.addListener(listener: collector)
    let ada = try mem.createCustomer(customer: person("Ada", [email("ada@example.org")]))
    let sentAt = Date(timeIntervalSince1970: 1_714_555_800.123456)
    let fields: [String: ObjectValue] = [
        "number": .string(value: "INV-1"),
        "seats": .integer(value: -3),
        "total": .decimal(value: "49.90"),
        "paid": .bool(value: false),
        "due": .date(value: "2024-06-30"),
        "sentAt": .datetime(value: sentAt),
        "labels": .stringList(values: ["b", "a"]),
        "customer": .customer(customerId: ada.id),
    ]
    let inv = try mem.createObject(objectType: "invoice", fields: fields, id: "INV-1", source: "shop")
    try checkEq(["invoice", "INV-1"], [inv.objectType, inv.id], "type and id")
    try checkEq(UInt64(1), inv.revision, "revision")
    guard case .datetime(let stored)? = inv.fields["sentAt"] else { throw CheckFailed(description: "no time: \(inv)") }
    // A Date is a Double: the microseconds survive, give or take its own rounding.
    try check(abs(stored.timeIntervalSince(sentAt)) < 2e-6, "microseconds survive: \(stored) vs \(sentAt)")
    var exact = fields
    exact["sentAt"] = .datetime(value: stored)
    try checkEq(exact, inv.fields, "exact round trip")
    try checkEq(ObjectValue.decimal(value: "49.90"), inv.fields["total"], "the decimal keeps its scale")
    try checkEq(inv, try mem.object(objectType: "invoice", id: "INV-1"), "read back")
    try checkEq(nil, try mem.object(objectType: "invoice", id: "INV-404"), "no such object")
    try checkEq(["customer": ObjectValue.customer(customerId: ada.id), "total": .decimal(value: "12.50")],
                try mem.parseObjectFields(objectType: "invoice", texts: ["customer": "ada@example.org", "total": "12.50"]),
                "fields from text, a link by e-mail")
    let generated = try mem.createObject(objectType: "invoice", fields: ["number": .string(value: "INV-0")])
    try checkEq(36, generated.id.count, "a generated UUID id")
    _ = try mem.deleteObject(objectType: "invoice", id: generated.id)

    for (id, seats, total) in [("a", Int64(5), "10.00"), ("b", Int64(50), "99.5"), ("c", Int64(10), "20"),
                               ("d", Int64(10), "7.25"), ("e", Int64(30), "1")] {
        _ = try mem.createObject(objectType: "invoice", fields: [
            "number": .string(value: id.uppercased()), "seats": .integer(value: seats), "total": .decimal(value: total),
        ], id: id)
    }
    func ids(_ p: ObjectPage) -> [String] { p.items.map { $0.id } }
    try checkEq(["INV-1", "a", "b", "c", "d", "e"], ids(try mem.objects(objectType: "invoice")), "all, by id")
    try checkEq(["c", "d"], ids(try mem.objects(objectType: "invoice", query: ObjectQuery(field: "seats", equal: .integer(value: 10)))), "equal")
    try checkEq(["e", "d", "a"], ids(try mem.objects(objectType: "invoice", query: ObjectQuery(field: "total", max: .decimal(value: "10")))),
                "decimals by value")
    let first = try mem.objects(objectType: "invoice",
                                query: ObjectQuery(field: "seats", min: .integer(value: 10), max: .integer(value: 30), limit: 2))
    try checkEq(["c", "d"], ids(first), "first page")
    try check(first.next != nil, "a next cursor")
    let second = try mem.objects(objectType: "invoice",
                                 query: ObjectQuery(field: "seats", min: .integer(value: 10), max: .integer(value: 30), after: first.next, limit: 2))
    try checkEq(["e"], ids(second), "second page")
    try checkEq(nil, second.next, "last page")
    try check(isValidation(try crmError("unindexed") { _ = try mem.objects(objectType: "invoice", query: ObjectQuery(field: "paid", equal: .bool(value: true))) }), "unindexed field")
    try check(isValidation(try crmError("wrong type") { _ = try mem.objects(objectType: "invoice", query: ObjectQuery(field: "seats", equal: .string(value: "ten"))) }), "wrong type")
    try check(isNotFound(try crmError("unknown type") { _ = try mem.objects(objectType: "nope") }), "unknown type")

    let updated = try mem.updateObject(objectType: "invoice", id: "INV-1", set: ["paid": .bool(value: true)],
                                       unset: ["labels"], expectedRevision: 1, source: "billing")
    try checkEq(UInt64(2), updated.revision, "revision after update")
    try checkEq(nil, updated.fields["labels"], "unset")
    let stale = try crmError("stale") {
        _ = try mem.updateObject(objectType: "invoice", id: "INV-1", set: ["seats": .integer(value: 1)], expectedRevision: 1)
    }
    try check(isConflict(stale) && message(stale).contains("INV-1") && message(stale).contains("changed concurrently"), "readable conflict: \(stale)")
    try check(isConflict(try crmError("stale delete") { _ = try mem.deleteObject(objectType: "invoice", id: "INV-1", expectedRevision: 1) }), "stale delete")
    try check(isConflict(try crmError("taken id") { _ = try mem.createObject(objectType: "invoice", fields: ["number": .string(value: "X")], id: "a") }), "taken id")
    let missing = try crmError("required") { _ = try mem.createObject(objectType: "invoice", fields: ["seats": .integer(value: 1)]) }
    try checkEq("invalid invoice.number: is required", message(missing), "required field")
    try check(isValidation(try crmError("wrong type") { _ = try mem.createObject(objectType: "invoice", fields: ["number": .integer(value: 1)]) }), "wrong type")
    try check(isValidation(try crmError("bad decimal") {
        _ = try mem.createObject(objectType: "invoice", fields: ["number": .string(value: "X"), "total": .decimal(value: "12,50")])
    }), "bad decimal")
    try check(isNotFound(try crmError("unknown customer") {
        _ = try mem.createObject(objectType: "invoice", fields: ["number": .string(value: "X"),
                                                               "customer": .customer(customerId: "0190a8e2-7f3c-7000-8000-000000000000")])
    }), "unknown customer")
    try check(isConflict(try crmError("type change") {
        _ = try mem.defineObjectType(name: "invoice", fields: [ObjectFieldSpec(name: "number", fieldType: .integer)])
    }), "a field's type cannot change")

    let deleted = try mem.deleteObject(objectType: "invoice", id: "INV-1", expectedRevision: 2)
    try checkEq(updated, deleted, "the deleted object")
    try checkEq(nil, try mem.object(objectType: "invoice", id: "INV-1"), "gone")
    try check(isNotFound(try crmError("deleted twice") { _ = try mem.deleteObject(objectType: "invoice", id: "INV-1") }), "deleted twice")
    let history = try mem.objectHistory(objectType: "invoice", id: "INV-1")
    try checkEq([ObjectChangeKind.created, .updated, .deleted], history.map { $0.kind }, "history kinds")
    try checkEq(["shop", "billing", "crmkit"], history.map { $0.actor }, "actors")
    try checkEq([ObjectFieldChange(field: "labels", before: .stringList(values: ["b", "a"]), after: nil),
                 ObjectFieldChange(field: "paid", before: .bool(value: false), after: .bool(value: true))],
                history[1].fields, "changed fields")

    let objectEvents = collector.events.filter { $0.typeName.hasPrefix("object_") && $0.customerId == ada.id }
    try checkEq([EventPayload.objectCreated(crmObject: inv), .objectUpdated(before: inv, after: updated), .objectDeleted(crmObject: deleted)],
                objectEvents.map { $0.payload }, "object events at the listener, about Ada")
    try checkEq(["object_created", "object_updated", "object_deleted"], objectEvents.map { $0.typeName }, "type names")
    try checkEq(UInt64(0), handle.failures(), "no listener failures")
    handle.unsubscribe()
}

test("CDNOW: the same import, models and scores as the Rust CLI, to the last digit") {
    let fitJson = try Json.object(try String(contentsOf: expectedDir.appendingPathComponent("fit.json"), encoding: .utf8))
    let cd = try Crm.open(path: work.appendingPathComponent("cdnow.db").path)
    let report = try cd.importInteractions(source: .file(path: cdnowPath), mapping: cdnowMapping,
                                           options: ImportOptions(createMissingCustomers: true))
    try checkEq(UInt64(69_659), report.interactionsWritten, "transactions")
    try checkEq([usd("2500315.63")], try cd.summary().revenue, "revenue")
    let fit = try cd.fitValue(options: ValueOptions(asOf: date("1997-09-30T23:59:59Z"), timeUnit: "week", model: .bgNbd))
    let purchaseJson = fitJson["purchase_model"] as! [String: Any?]
    try checkEq(purchaseJson["log_likelihood"] as? Double, fit.model.purchaseFit.logLikelihood, "log-likelihood")
    func compare(_ want: [String: Any?], _ got: [ModelParameter], _ model: String) throws {
        try checkEq(Set(want.keys), Set(got.map { $0.name }), "\(model) parameter names")
        for p in got {
            let w = want[p.name] as! [String: Any?]
            try checkEq(w["value"] as? Double, p.value, "\(model) \(p.name)")
            try checkEq(w["standard_error"] as? Double, p.standardError, "\(model) \(p.name) standard error")
        }
    }
    try compare(purchaseJson["parameters"] as! [String: Any?], fit.model.purchaseFit.parameters, "BG/NBD")
    try compare((fitJson["spend_model"] as! [String: Any?])["parameters"] as! [String: Any?], fit.model.spendFit!.parameters, "Gamma-Gamma")
    let files = try FileManager.default.contentsOfDirectory(atPath: expectedDir.path).filter { $0.hasPrefix("score-") }.sorted()
    try check(!files.isEmpty, "no expected scores")
    for f in files {
        let key = "ext:cdnow:" + f.dropFirst("score-".count).dropLast(".json".count)
        let want = try Json.object(try String(contentsOf: expectedDir.appendingPathComponent(f), encoding: .utf8))
        let ws = want["scores"] as! [String: Any?]
        let got = try cd.explainValue(customerId: try cd.lookup(idOrKey: key).id)
        let s = got.score
        let pairs: [(String, Double?)] = [("frequency", s.frequency), ("recency", s.recency), ("age", s.age), ("monetary", s.monetary),
                                          ("p_alive", s.pAlive), ("expected_purchases", s.expectedPurchases),
                                          ("expected_spend", s.expectedSpend), ("clv", s.clv)]
        for (name, value) in pairs {
            try checkEq(ws[name] as? Double, value, "\(key) \(name)")
        }
        try checkEq((ws["rfm"] as! [Any?]).map { Int(($0 as! Double)) }, [Int(s.rfm.recency), Int(s.rfm.frequency), Int(s.rfm.monetary)], "\(key) rfm")
        try checkEq(ws["segment"] as? String, s.segment, "\(key) segment")
        try checkEq(want["clv_horizon_purchases"] as? Double, got.clvHorizonPurchases, "\(key) clv horizon purchases")
        try checkEq(want["discount_factor"] as? Double, got.discountFactor, "\(key) discount factor")
        try checkEq(want["explanation"] as? String, got.text, "\(key) explanation text")
    }
}

print("\(passed) passed, \(failed) failed")
exit(failed == 0 ? 0 : 1)

/// Just enough JSON to read the CLI's output; numbers go through `Double(String)`, which rounds
/// exactly as Rust printed them.
enum Json {
    static func object(_ text: String) throws -> [String: Any?] {
        var p = Parser(chars: Array(text.unicodeScalars))
        guard let o = try p.value() as? [String: Any?] else { throw CheckFailed(description: "not a JSON object") }
        return o
    }

    struct Parser {
        let chars: [Unicode.Scalar]
        var i = 0

        mutating func ws() { while i < chars.count && " \n\r\t".unicodeScalars.contains(chars[i]) { i += 1 } }

        mutating func value() throws -> Any? {
            ws()
            switch chars[i] {
            case "{":
                i += 1
                var m: [String: Any?] = [:]
                ws()
                if chars[i] == "}" { i += 1; return m }
                while true {
                    ws()
                    let k = try string()
                    ws(); try expect(":")
                    m.updateValue(try value(), forKey: k)
                    ws()
                    if chars[i] == "," { i += 1 } else { try expect("}"); return m }
                }
            case "[":
                i += 1
                var l: [Any?] = []
                ws()
                if chars[i] == "]" { i += 1; return l }
                while true {
                    l.append(try value())
                    ws()
                    if chars[i] == "," { i += 1 } else { try expect("]"); return l }
                }
            case "\"": return try string()
            case "t": i += 4; return true
            case "f": i += 5; return false
            case "n": i += 4; return nil
            default:
                let start = i
                while i < chars.count && "+-0123456789.eE".unicodeScalars.contains(chars[i]) { i += 1 }
                var s = ""
                s.unicodeScalars.append(contentsOf: chars[start..<i])
                guard let d = Double(s) else { throw CheckFailed(description: "bad number \(s)") }
                return d
            }
        }

        mutating func expect(_ c: Unicode.Scalar) throws {
            guard chars[i] == c else { throw CheckFailed(description: "expected \(c) at \(i)") }
            i += 1
        }

        mutating func string() throws -> String {
            try expect("\"")
            var s = ""
            while chars[i] != "\"" {
                if chars[i] == "\\" {
                    i += 1
                    switch chars[i] {
                    case "n": s.append("\n")
                    case "t": s.append("\t")
                    case "r": s.append("\r")
                    case "u":
                        var hex = ""
                        hex.unicodeScalars.append(contentsOf: chars[(i + 1)...(i + 4)])
                        s.unicodeScalars.append(Unicode.Scalar(UInt32(hex, radix: 16)!)!)
                        i += 4
                    default: s.unicodeScalars.append(chars[i])
                    }
                } else {
                    s.unicodeScalars.append(chars[i])
                }
                i += 1
            }
            i += 1
            return s
        }
    }
}
