// The Kotlin suite of crmkit's UniFFI bindings, run on the JVM by scripts/test-kotlin.sh.
//
// A plain main (no JUnit): each test prints "ok" or "FAIL", the last line is "N passed, N failed",
// and the exit code is non-zero on any failure.
//
// Arguments: WORK_DIR CDNOW_MASTER_TXT EXPECTED_DIR
//   WORK_DIR      an empty directory for the test databases
//   CDNOW_MASTER  examples/data/CDNOW_master.txt
//   EXPECTED_DIR  what the Rust CLI printed on the same data in the same run:
//                 fit.json (`crmkit fit --format json`) and score-<id>.json (`crmkit score KEY --format json`)
package dev.crmkit.tests

import dev.crmkit.*
import java.io.File
import java.time.Instant
import java.time.temporal.ChronoUnit
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.CountDownLatch
import java.util.concurrent.atomic.AtomicInteger
import kotlin.system.exitProcess

private var passed = 0
private var failed = 0

private fun test(name: String, body: () -> Unit) {
    val started = System.nanoTime()
    try {
        body()
        passed++
        println("ok    %-58s %6.0f ms".format(name, (System.nanoTime() - started) / 1e6))
    } catch (e: Throwable) {
        failed++
        println("FAIL  $name: $e")
        e.printStackTrace(System.out)
    }
}

private class CheckFailed(message: String) : AssertionError(message)

private fun check(condition: Boolean, message: () -> String) {
    if (!condition) throw CheckFailed(message())
}

private fun <T> checkEq(expected: T, actual: T, what: String) =
    check(expected == actual) { "$what: expected <$expected>, got <$actual>" }

private inline fun <reified E : Throwable> assertThrows(block: () -> Unit): E {
    try {
        block()
    } catch (e: Throwable) {
        if (e is E) return e
        throw CheckFailed("expected ${E::class.simpleName}, got $e")
    }
    throw CheckFailed("expected ${E::class.simpleName}, nothing was thrown")
}

private fun usd(amount: String) = Money(amount, "USD")
private fun email(address: String) = IdentityKey(IdentityKind.Email, address)
private fun person(name: String, vararg keys: IdentityKey, tags: List<String> = listOf()) =
    NewCustomer(name = name, kind = CustomerKind.PERSON, stage = LifecycleStage.Prospect,
        identities = keys.toList(), tags = tags)
private fun purchase(customerId: String, at: String, amount: String, key: String? = null) =
    NewInteraction(customerId = customerId, occurredAt = Instant.parse(at),
        kind = InteractionKind.Purchase(total = usd(amount)), idempotencyKey = key)

/** The CDNOW log's mapping: `customer_id date number_of_cds dollar_value`, as the CLI's demo reads it. */
private val cdnowMapping = InteractionMapping(
    format = InputFormat.WHITESPACE,
    columns = mapOf("customer" to "customer_id", "timestamp" to "date", "amount" to "dollar_value"),
    customerKey = IdentityKind.External("cdnow"),
    timestampFormat = "%Y%m%d",
    defaultCurrency = "USD",
    properties = listOf("number_of_cds"),
)

fun main(args: Array<String>) {
    if (args.size != 3) {
        System.err.println("usage: CrmKitTest WORK_DIR CDNOW_MASTER_TXT EXPECTED_DIR")
        exitProcess(2)
    }
    val work = File(args[0]).apply { mkdirs() }
    val cdnow = File(args[1])
    val expected = File(args[2])
    val dbPath = File(work, "crm.db").path

    test("the library loads and reports its version") {
        check(crmkitVersion().isNotEmpty()) { "empty version" }
    }

    // One database file for the end-to-end tests, reopened further down.
    var crm = Crm.open(dbPath)
    lateinit var adaId: String

    test("customers: create, normalised lookup, update, list, audit") {
        crm.defineField(FieldDef("plan", FieldType.STRING))
        crm.defineField(FieldDef("seats", FieldType.INTEGER))
        crm.defineField(FieldDef("credit", FieldType.DECIMAL))
        val ada = crm.createCustomer(NewCustomer(
            name = "Ada Lovelace",
            kind = CustomerKind.PERSON,
            stage = LifecycleStage.Lead,
            identities = listOf(email(" Ada@Example.ORG "), IdentityKey(IdentityKind.Phone, "+44 20 7946 0018")),
            tags = listOf("newsletter", "beta"),
            attributes = mapOf(
                "plan" to AttributeValue.String("pro"),
                "seats" to AttributeValue.Integer(3),
                "credit" to AttributeValue.Decimal("12.50"),
            ),
            consents = listOf(ConsentChoice("marketing", Channel.Email, ConsentStatus.GRANTED)),
            source = "signup-form",
        ))
        adaId = ada.id
        checkEq(listOf("beta", "newsletter"), ada.tags, "tags are sorted")
        checkEq(1uL, ada.revision, "revision")
        checkEq(ada, crm.lookup("ada@example.org"), "lookup by normalised e-mail")
        checkEq(ada, crm.customer(ada.id), "customer by id")
        checkEq(ada, crm.find(email("ADA@example.org")), "find by key")
        checkEq(null, crm.find(email("nobody@example.org")), "find unknown")
        checkEq(AttributeValue.Decimal("12.50"), ada.attributes["credit"], "decimals stay exact")

        val updated = crm.updateCustomer(ada.id, listOf(
            CustomerChange.SetStage(LifecycleStage.Customer),
            CustomerChange.SetAttribute("seats", AttributeValue.Integer(40)),
            CustomerChange.AddTag("vip"),
            CustomerChange.RemoveTag("beta"),
        ), source = "agent:sam")
        checkEq(LifecycleStage.Customer, updated.stage, "stage")
        checkEq(2uL, updated.revision, "revision after update")
        checkEq(listOf<LifecycleStage?>(null, LifecycleStage.Lead), updated.stageHistory.map { it.from }, "stage history")
        val same = crm.updateCustomer(ada.id, listOf(CustomerChange.AddTag("vip")))
        checkEq(2uL, same.revision, "a change that changes nothing writes nothing")

        crm.createCustomer(person("Bo Bellamy", email("bo@example.org"), tags = listOf("vip")))
        crm.createCustomer(NewCustomer(name = "Initech", kind = CustomerKind.ORGANISATION,
            stage = LifecycleStage.Custom("Trial"), identities = listOf(IdentityKey(IdentityKind.External("billing"), "C-17"))))
        checkEq(LifecycleStage.Custom("trial"), crm.lookup("ext:billing:C-17").stage, "custom stages are lower-cased")
        val vips = crm.listCustomers(CustomerQuery(tag = "vip"))
        checkEq(setOf("Ada Lovelace", "Bo Bellamy"), vips.items.map { it.name }.toSet(), "customers tagged vip")
        val page = crm.listCustomers(CustomerQuery(limit = 2u))
        checkEq(2, page.items.size, "page size")
        val rest = crm.listCustomers(CustomerQuery(after = page.next, limit = 2u))
        checkEq(1, rest.items.size, "second page")

        val audit = crm.auditLog(customerId = ada.id)
        checkEq(listOf("customer", "stage", "tags", "attributes.seats"), audit.map { it.field }, "audit fields")
        checkEq("\"customer\"", audit.first { it.field == "stage" }.newJson, "audit value as JSON")
        checkEq("agent:sam", audit.last().actor, "audit actor")
    }

    test("interactions: exact money, idempotency, time ranges, summary") {
        val bo = crm.lookup("bo@example.org")
        checkEq(1uL, crm.record(purchase(adaId, "2024-05-01T09:30:00Z", "0.10", key = "order-1")) ?: 0uL, "first id")
        checkEq(null, crm.record(purchase(adaId, "2024-05-01T09:30:00Z", "0.10", key = "order-1")), "a retried write is skipped")
        val ids = crm.recordAll(listOf(
            purchase(adaId, "2024-06-01T10:00:00.123456Z", "0.20"),
            purchase(bo.id, "2024-06-02T10:00:00Z", "19.99"),
            NewInteraction(customerId = bo.id, occurredAt = Instant.parse("2024-06-03T08:00:00Z"),
                kind = InteractionKind.Call(direction = Direction.OUTBOUND, durationSecs = 300u, outcome = "voicemail"),
                channel = Channel.Phone, propertiesJson = mapOf("agent" to "\"sam\"", "attempt" to "2")),
        ))
        checkEq(3, ids.filterNotNull().size, "batch ids")
        val log = crm.interactions(adaId)
        checkEq(listOf("0.10", "0.20"), log.map { (it.kind as InteractionKind.Purchase).total.amount }, "amounts as written")
        checkEq(Instant.parse("2024-06-01T10:00:00.123456Z"), log[1].occurredAt, "microseconds survive")
        checkEq(1, crm.interactions(adaId, from = Instant.parse("2024-05-15T00:00:00Z")).size, "from")
        checkEq(1, crm.interactions(adaId, to = Instant.parse("2024-05-15T00:00:00Z")).size, "to")
        val call = crm.interactions(bo.id).last()
        checkEq(mapOf("agent" to "\"sam\"", "attempt" to "2"), call.propertiesJson, "properties")
        checkEq(Channel.Phone, call.channel, "channel")
        val s = crm.summary(top = 1u)
        checkEq(listOf(usd("20.29")), s.revenue, "revenue is exact (0.10 + 0.20 + 19.99)")
        checkEq(3uL, s.purchases, "purchases")
        checkEq("Bo Bellamy", s.topCustomers.single().customer.name, "top customer")
    }

    test("imports from text: rejects file, idempotency, progress listener") {
        val csv = "email,date,total\n" +
            "ada@example.org,2024-07-01,5.00\n" +
            "carol@example.org,2024-07-02,7.50\n" +
            "broken,2024-07-03,1.00\n" +
            "ada@example.org,2024-07-04,twelve\n"
        val rejects = File(work, "rejects.csv")
        val events = mutableListOf<ImportProgress>()
        val listener = object : ImportListener {
            override fun onProgress(progress: ImportProgress) { events += progress }
        }
        val mapping = InteractionMapping(format = InputFormat.CSV,
            columns = mapOf("customer" to "email", "timestamp" to "date", "amount" to "total"),
            customerKey = IdentityKind.Email, defaultCurrency = "USD")
        val options = ImportOptions(createMissingCustomers = true, rejectsPath = rejects.path, batchSize = 1u)
        val r = crm.importInteractions(ImportSource.Text("orders.csv", csv), mapping, options, listener)
        checkEq(2uL, r.interactionsWritten, "written")
        checkEq(2uL, r.rejected, "rejected")
        checkEq(1uL, r.customersCreated, "carol created")
        check(rejects.readText().contains("twelve")) { "the bad row is in the rejects file" }
        check(events.isNotEmpty() && events.last().rowsRead == 4uL) { "progress events: $events" }
        val again = crm.importInteractions(ImportSource.Text("orders.csv", csv), mapping, options)
        checkEq(0uL, again.interactionsWritten, "second import writes nothing")

        val people = "email,name,stage\ndave@example.org,Dave,lead\nada@example.org,Ada King,customer\n"
        val cm = CustomerMapping(format = InputFormat.CSV, key = IdentityKind.Email,
            columns = mapOf("key" to "email", "name" to "name", "stage" to "stage"))
        val rc = crm.importCustomers(ImportSource.Text("people.csv", people), cm, ImportOptions())
        checkEq(1uL to 1uL, rc.customersCreated to rc.customersUpdated, "created, updated")
        checkEq("Ada King", crm.lookup("ada@example.org").name, "upserted name")
    }

    test("errors: Validation") {
        val e = assertThrows<CrmException.Validation> { crm.createCustomer(person("Nobody", email("not-an-address"))) }
        check(e.message!!.contains("email")) { "message names the field: ${e.message}" }
        assertThrows<CrmException.Validation> { crm.record(purchase(adaId, "2024-01-01T00:00:00Z", "12,50")) }
        val neg = assertThrows<CrmException.Validation> { crm.record(purchase(adaId, "2024-01-01T00:00:00Z", "-1")) }
        check(neg.message!!.contains("refund")) { "readable: ${neg.message}" }
        assertThrows<CrmException.Validation> { crm.customer("not-a-uuid") }
        assertThrows<CrmException.Validation> { crm.createCustomer(person("  ")) }
        assertThrows<CrmException.Validation> {
            crm.createCustomer(NewCustomer(name = "X", kind = CustomerKind.PERSON, stage = LifecycleStage.Prospect,
                attributes = mapOf("undeclared" to AttributeValue.Bool(true))))
        }
        assertThrows<CrmException.Validation> { crm.fitValue(ValueOptions(asOf = Instant.parse("2024-12-31T00:00:00Z"), timeUnit = "fortnight")) }
        checkEq(null, crm.find(email("x@example.org")), "nothing was written by the failed calls")
    }

    test("errors: NotFound") {
        val e = assertThrows<CrmException.NotFound> { crm.lookup("ghost@example.org") }
        checkEq("customer not found: email:ghost@example.org", e.message, "message")
        assertThrows<CrmException.NotFound> { crm.customer("0190a8e2-7f3c-7000-8000-000000000000") }
        assertThrows<CrmException.NotFound> { crm.explainValue(crm.lookup("dave@example.org").id) }
    }

    test("errors: Conflict") {
        val e = assertThrows<CrmException.Conflict> { crm.createCustomer(person("Imposter", email("ADA@example.org"))) }
        check(e.message!!.contains("already belongs")) { e.message!! }
        assertThrows<CrmException.Conflict> { crm.defineField(FieldDef("seats", FieldType.STRING)) }
    }

    test("errors: Storage") {
        val garbage = File(work, "not-a-database.db").apply { writeText("this is not SQLite ".repeat(400)) }
        val e = assertThrows<CrmException.Storage> { Crm.open(garbage.path) }
        check(e.message!!.isNotEmpty()) { "message" }
        assertThrows<CrmException.Storage> { crm.importInteractions(ImportSource.File(File(work, "missing.csv").path), cdnowMapping, ImportOptions()) }
    }

    println("      (the next test panics in Rust on purpose: Rust prints the two panics on stderr)")
    test("a panic in Rust arrives as CrmException.Internal and the JVM goes on") {
        val before = crm.summary().interactions
        val throwing = object : ImportListener {
            override fun onProgress(progress: ImportProgress) = throw IllegalStateException("the app's listener broke")
        }
        val csv = "email,date,total\nada@example.org,2024-08-01,1.00\nada@example.org,2024-08-02,2.00\n"
        val mapping = InteractionMapping(format = InputFormat.CSV,
            columns = mapOf("customer" to "email", "timestamp" to "date", "amount" to "total"),
            customerKey = IdentityKind.Email, defaultCurrency = "USD")
        val e = assertThrows<CrmException.Internal> {
            crm.importInteractions(ImportSource.Text("panic.csv", csv), mapping, ImportOptions(batchSize = 1u), throwing)
        }
        check(e.message!!.contains("the app's listener broke")) { "the cause is in the message: ${e.message}" }
        val direct = assertThrows<CrmException.Internal> { panicForTesting("boom") }
        checkEq("internal error in crmkit: boom", direct.message, "panicForTesting")
        // The batch before the panic is committed; the CRM is still usable.
        checkEq(before + 1uL, crm.summary().interactions, "committed before the panic")
        checkEq("Ada King", crm.lookup("ada@example.org").name, "still usable")
    }

    test("concurrent use from two threads") {
        val errors = AtomicInteger()
        val conflicts = AtomicInteger()
        val start = CountDownLatch(1)
        val threads = (0 until 2).map { t ->
            Thread {
                start.await()
                try {
                    repeat(100) { i ->
                        val c = crm.createCustomer(person("T$t-$i", email("t$t-$i@example.org")))
                        crm.record(purchase(c.id, "2024-09-01T12:00:00Z", "$i.99"))
                        crm.lookup("t$t-$i@example.org")
                        try { // both threads change the same customer: a lost update is a Conflict
                            crm.updateCustomer(adaId, listOf(CustomerChange.SetAttribute("seats", AttributeValue.Integer((t * 1000 + i).toLong()))))
                        } catch (e: CrmException.Conflict) {
                            conflicts.incrementAndGet()
                        }
                    }
                } catch (e: Throwable) {
                    errors.incrementAndGet()
                    e.printStackTrace(System.out)
                }
            }.apply { start() }
        }
        start.countDown()
        threads.forEach { it.join() }
        checkEq(0, errors.get(), "errors")
        checkEq(200, crm.listCustomers(CustomerQuery(nameContains = "T", limit = 1000u)).items.count { it.name.matches(Regex("T[01]-\\d+")) }, "customers created")
        val seatsChanges = crm.auditLog(customerId = adaId, limit = 1000u).count { it.field == "attributes.seats" }
        checkEq(1 + 200 - conflicts.get(), seatsChanges, "every update not refused as a conflict is in the audit log")
    }

    test("fit and score on the database file") {
        // A small shop: 30 customers with 1 to 6 purchases over a year.
        for (n in 0 until 30) {
            val c = crm.createCustomer(person("Shopper $n", IdentityKey(IdentityKind.External("shop"), "S$n")))
            for (k in 0..(n % 6)) {
                val day = 1 + (n * 7 + k * 53) % 360
                val at = Instant.parse("2023-01-01T12:00:00Z").plusSeconds(day * 86_400L)
                crm.record(purchase(c.id, at.toString(), "${10 + n}.${k}0"))
            }
        }
        val fit = crm.fitValue(ValueOptions(asOf = Instant.parse("2023-12-31T23:59:59Z"), currency = "USD"))
        checkEq(PurchaseModel.BG_NBD, fit.model.purchaseModel, "model")
        checkEq(listOf("r", "alpha", "a", "b"), fit.model.purchaseFit.parameters.map { it.name }, "parameters")
        check(fit.customersScored >= 30uL) { "scored ${fit.customersScored}" }
        // The stored model is the fitted one, bit for bit: its numbers went through the core's
        // JSON encoding, which reads floats back exactly (serde_json's float_roundtrip).
        val stored = crm.valueModel()!!
        checkEq(fit.model, stored, "latest model")
        val s5 = crm.score(crm.lookup("ext:shop:S5").id)!!
        check(s5.pAlive in 0.0..1.0 && s5.expectedPurchases >= 0.0) { "scores in range: $s5" }
        checkEq(5.0, s5.frequency, "frequency of six purchases on six days")
        val top = crm.topScores(5u)
        checkEq(5, top.size, "top 5")
        check(top.zipWithNext().all { (a, b) -> (a.clv ?: 0.0) >= (b.clv ?: 0.0) }) { "ordered by CLV" }
        val why = crm.explainValue(crm.lookup("ext:shop:S5").id)
        checkEq(s5, why.score, "explanation's scores")
        check(why.text.contains("P(alive)")) { why.text }
        checkEq(crm.scores().size.toULong(), fit.customersScored, "all scores stored")
        val holdout = crm.holdoutCheck(Instant.parse("2023-09-30T23:59:59Z"), ValueOptions(asOf = Instant.parse("2023-12-31T23:59:59Z")))
        check(holdout.customers > 0uL && holdout.trackingActual.isNotEmpty()) { "holdout check: $holdout" }
    }

    test("closing and reopening the database file") {
        val before = crm.summary(top = 3u)
        val ada = crm.lookup("ada@example.org")
        val model = crm.valueModel()
        crm.close()
        assertThrows<IllegalStateException> { crm.summary() }
        crm = Crm.open(dbPath)
        checkEq(dbPath, crm.path(), "path")
        checkEq(before, crm.summary(top = 3u), "summary after reopening")
        checkEq(ada, crm.lookup("ada@example.org"), "customer after reopening")
        checkEq(model, crm.valueModel(), "model after reopening")
        Crm.openInMemory().use { mem -> checkEq(0uL, mem.summary().customers, "in-memory database is separate") }
    }
    crm.close()

    // Segments, playbooks, tasks and events: a database file of their own, closed and reopened.
    val autoPath = File(work, "automation.db").path
    var auto = Crm.open(autoPath)
    val now = Instant.now()
    fun daysAgo(days: Long): Instant = now.minus(days, ChronoUnit.DAYS)
    fun buy(customerId: String, at: Instant, amount: String) =
        auto.record(NewInteraction(customerId = customerId, occurredAt = at, kind = InteractionKind.Purchase(total = usd(amount))))

    test("segments: a dynamic segment fills as purchases arrive; members, explain, edit, manual lists") {
        val rule = "sum(purchase, 365d) >= 100 USD and not tag \"staff\""
        val seg = auto.defineSegment(SegmentDefinition("big spenders", SegmentKind.DYNAMIC, rule = rule,
            description = "100 USD or more in a year"))
        checkEq(rule, seg.rule, "the rule's text form")
        checkEq(1uL to SegmentKind.DYNAMIC, seg.version to seg.kind, "version and kind")
        val ada = auto.createCustomer(person("Ada", email("ada@example.org")))
        val bo = auto.createCustomer(person("Bo", email("bo@example.org")))
        val sam = auto.createCustomer(person("Sam", email("sam@example.org"), tags = listOf("staff")))
        buy(ada.id, daysAgo(40), "60.00")
        checkEq(listOf<String>(), auto.segmentsOf(ada.id), "60 USD: not yet")
        buy(ada.id, daysAgo(3), "45.50")
        buy(bo.id, daysAgo(2), "30.00")
        buy(sam.id, daysAgo(1), "500.00")
        checkEq(listOf(ada.id), auto.segmentMembers("big spenders"), "members")
        checkEq(listOf("big spenders"), auto.segmentsOf(ada.id), "Ada's segments")
        checkEq(listOf(SegmentSize("big spenders", 1uL)), auto.segmentSizes(), "sizes")
        val row = auto.memberships(ada.id).single()
        checkEq(Triple("big spenders", true, 1uL), Triple(row.segment, row.member, row.version), "Ada's membership row")

        val yes = auto.explainSegment("big spenders", ada.id)
        checkEq(listOf(PredicateCheck("sum(purchase, 365d) >= 100 USD", true), PredicateCheck("tag \"staff\"", false)),
            yes.predicates, "Ada's predicates")
        check(yes.member && yes.matchesNow) { "$yes" }
        val no = auto.explainSegment("big spenders", sam.id)
        checkEq(listOf(true, true), no.predicates.map { it.holds }, "Sam spends, but is staff")
        check(!no.member && !no.matchesNow) { "$no" }

        val entries = auto.eventsAfter(0uL, 1000u).filter { it.payload is EventPayload.SegmentEntered }
        checkEq(listOf<String?>(ada.id), entries.map { it.customerId }, "one entry event")
        val entry = entries.single().payload as EventPayload.SegmentEntered
        checkEq("big spenders" to 1uL, entry.segment to entry.version, "entry event")
        check(entry.reason.any { it.contains("sum(purchase, 365d)") }) { "the reason names the predicate: ${entry.reason}" }
        checkEq(listOf<MembershipDiff>(), auto.verifySegments(), "incremental membership = full re-evaluation")

        // Editing the rule makes version 2 and recomputes the membership: Bo's 30 USD now count.
        val v2 = auto.defineSegment(SegmentDefinition("big spenders", SegmentKind.DYNAMIC,
            rule = "sum(purchase, 365d) >= 25 USD and not tag \"staff\""))
        checkEq(2uL, v2.version, "version after the edit")
        checkEq(setOf(ada.id, bo.id), auto.segmentMembers("big spenders").toSet(), "members after the edit")
        checkEq(v2, auto.segment("big spenders"), "segment by name")

        val beta = auto.defineSegment(SegmentDefinition("beta testers", SegmentKind.MANUAL))
        checkEq(null, beta.rule, "a manual segment has no rule")
        checkEq(true, auto.addToSegment("beta testers", bo.id), "added by hand")
        checkEq(false, auto.addToSegment("beta testers", bo.id), "added again: nothing")
        checkEq(listOf("beta testers", "big spenders"), auto.segmentsOf(bo.id).sorted(), "Bo's segments")
        checkEq(true, auto.removeFromSegment("beta testers", bo.id), "removed by hand")
        checkEq(listOf("beta testers", "big spenders"), auto.segments().map { it.name }, "segments by name")
    }

    test("playbooks: a listener gets segment_entered, task_created and the app's action; tasks") {
        auto.defineField(FieldDef("welcomed", FieldType.BOOL))
        auto.defineSegment(SegmentDefinition("vip", SegmentKind.DYNAMIC, rule = "tag \"vip\""))
        val playbook = Playbook(name = "welcome-vip", segment = "vip", condition = "not tag \"staff\"", actions = listOf(
            Action.CreateTask(title = "Welcome call", dueInDays = 2u, assignee = "sam"),
            Action.Emit(action = "send_coupon", payloadJson = """{"pct":10}"""),
            Action.SetAttribute(field = "welcomed", value = AttributeValue.Bool(true)),
        ))
        checkEq(playbook, auto.definePlaybook(playbook), "defined")
        checkEq(listOf(playbook), auto.playbooks(), "stored")

        val seen = CopyOnWriteArrayList<Event>()
        val threads = CopyOnWriteArrayList<Thread>()
        val handle = auto.addListener(object : CrmListener {
            override fun onEvent(event: Event) {
                seen += event
                threads += Thread.currentThread()
            }
        })
        val cy = auto.createCustomer(person("Cy", email("cy@example.org")))
        auto.updateCustomer(cy.id, listOf(CustomerChange.AddTag("vip")))
        val types = seen.map { it.typeName }
        check(types.containsAll(listOf("customer_created", "customer_updated", "segment_entered", "task_created", "action"))) { "$types" }
        checkEq(seen.map { it.seq }.sorted(), seen.map { it.seq }, "events arrive in order")
        checkEq(setOf(Thread.currentThread()), threads.toSet(), "on the writing thread")
        val entered = seen.single { it.payload is EventPayload.SegmentEntered }
        checkEq(EventPayload.SegmentEntered("vip", 1uL, listOf("tag \"vip\" became true")), entered.payload, "segment_entered")
        checkEq(cy.id, entered.customerId, "about Cy")
        val created = seen.single { it.payload is EventPayload.TaskCreated }
        check(entered.seq < created.seq) { "the entry comes before what the playbook did" }
        val task = (created.payload as EventPayload.TaskCreated).task
        checkEq(listOf("Welcome call", "sam", "welcome-vip", cy.id), listOf(task.title, task.assignee, task.playbook, task.customerId), "the task")
        checkEq(TaskStatus.OPEN, task.status, "open")
        checkEq(task.createdAt.plus(2, ChronoUnit.DAYS), task.due, "due in 2 days")
        checkEq(EventPayload.Action("welcome-vip", "send_coupon", """{"pct":10}"""),
            seen.single { it.payload is EventPayload.Action }.payload, "the app's action")
        checkEq(AttributeValue.Bool(true), auto.customer(cy.id).attributes["welcomed"], "attribute set by the playbook")

        checkEq(listOf(task), auto.tasks(TaskQuery(customerId = cy.id)), "the playbook's task")
        val byHand = auto.createTask(cy.id, "Send the contract", 5u, assignee = "kim")
        checkEq(null, byHand.playbook, "a task made by hand")
        val done = auto.completeTask(task.id)
        checkEq(TaskStatus.DONE, done.status, "completed")
        check(done.completedAt != null) { "completion time" }
        checkEq(EventPayload.TaskCompleted(done), seen.last().payload, "task_completed")
        checkEq(listOf(byHand), auto.tasks(TaskQuery(customerId = cy.id, status = TaskStatus.OPEN)), "open tasks")
        checkEq(listOf(byHand), auto.tasks(TaskQuery(assignee = "kim")), "Kim's tasks")

        // Once per entry: again only after an exit.
        auto.updateCustomer(cy.id, listOf(CustomerChange.AddTag("regular")))
        checkEq(1, auto.tasks(TaskQuery(playbook = "welcome-vip")).size, "no new entry, no new task")
        auto.updateCustomer(cy.id, listOf(CustomerChange.RemoveTag("vip")))
        check(seen.any { it.payload is EventPayload.SegmentExited }) { "segment_exited" }
        auto.updateCustomer(cy.id, listOf(CustomerChange.AddTag("vip")))
        checkEq(2, auto.tasks(TaskQuery(playbook = "welcome-vip")).size, "re-entry fires again")

        check(handle.isActive() && handle.failures() == 0uL) { "active, no failures" }
        checkEq(seen.size.toULong(), handle.delivered(), "delivered")
        handle.close()
        val n = seen.size
        auto.createCustomer(person("Dee"))
        checkEq(n, seen.size, "nothing after close()")
    }

    test("a listener that throws does not break the write or the other listeners") {
        val got = AtomicInteger()
        val good = auto.addListener(object : CrmListener {
            override fun onEvent(event: Event) { got.incrementAndGet() }
        })
        val bad = auto.addListener(object : CrmListener {
            override fun onEvent(event: Event) = throw IllegalStateException("the app's listener broke")
        })
        val eve = auto.createCustomer(person("Eve", email("eve@example.org")))
        checkEq(eve, auto.lookup("eve@example.org"), "the write committed and returned normally")
        checkEq(1, got.get(), "the other listener got the event")
        checkEq(1uL to 1uL, bad.delivered() to bad.failures(), "delivered, failed")
        check(bad.lastFailure()!!.contains("the app's listener broke")) { "the exception is kept: ${bad.lastFailure()}" }
        checkEq(0uL to null, good.failures() to good.lastFailure(), "the good listener")
        bad.unsubscribe()
        check(!bad.isActive() && good.isActive()) { "unsubscribed" }
        auto.updateCustomer(eve.id, listOf(CustomerChange.AddTag("newsletter")))
        checkEq(2 to 1uL, got.get() to bad.delivered(), "only the good listener is called")
        good.close()
        bad.close()
    }

    test("rules: a bad rule is CrmException.Validation with the line and column; nothing changes") {
        val before = auto.segments()
        val e = assertThrows<CrmException.Validation> {
            auto.defineSegment(SegmentDefinition("broken", SegmentKind.DYNAMIC, rule = "tag \"vip\" and\n  days_since(purchase) >="))
        }
        check(Regex("^rule, line 2, column \\d+: .+").matches(e.message!!)) { "line and column: ${e.message}" }
        val unknown = assertThrows<CrmException.Validation> { auto.checkRule("attr.nope = 1") }
        check(unknown.message!!.contains("nope")) { unknown.message!! }
        checkEq("count(purchase, 30d) >= 3", auto.checkRule("count( purchase , 30d )>=3"), "canonical text")
        assertThrows<CrmException.Validation> { auto.defineSegment(SegmentDefinition("no rule", SegmentKind.DYNAMIC)) }
        val cycle = assertThrows<CrmException.Validation> {
            auto.defineSegment(SegmentDefinition("loop", SegmentKind.DYNAMIC, rule = "segment(\"loop\")"))
        }
        check(cycle.message!!.contains("cycle")) { cycle.message!! }
        assertThrows<CrmException.Validation> { auto.definePlaybook(Playbook("p", "vip", listOf(Action.Emit("x", "{not json")))) }
        assertThrows<CrmException.Validation> { auto.definePlaybook(Playbook("p", "vip", listOf(), condition = "p_alive <")) }
        assertThrows<CrmException.NotFound> { auto.definePlaybook(Playbook("p", "nope", listOf())) }
        assertThrows<CrmException.Conflict> { auto.deleteSegment("vip") } // the playbook acts on it
        assertThrows<CrmException.NotFound> { auto.completeTask("0190a8e2-7f3c-7000-8000-000000000000") }
        checkEq(before, auto.segments(), "nothing changed")
        checkEq(listOf("welcome-vip"), auto.playbooks().map { it.name }, "playbooks unchanged")
    }

    test("events: poll and ack, at least once across closing and reopening the file") {
        val first = auto.pollEvents("mailer", 1000u)
        check(first.size > 10) { "${first.size} events" }
        checkEq(first, auto.pollEvents("mailer", 1000u), "not acknowledged: the same events again")
        checkEq(first, auto.eventsAfter(0uL, 1000u), "the whole outbox")
        val mid = first[first.size / 2].seq
        auto.close()
        auto = Crm.open(autoPath)
        checkEq(first, auto.pollEvents("mailer", 1000u), "after reopening: still there")
        auto.ackEvents("mailer", mid)
        checkEq(mid, auto.consumerCursor("mailer"), "cursor")
        auto.close()
        auto = Crm.open(autoPath)
        checkEq(first.filter { it.seq > mid }, auto.pollEvents("mailer", 1000u), "after the ack and reopening")
        checkEq(first.take(3), auto.pollEvents("sync", 3u), "consumers are independent")
        auto.ackEvents("mailer", first.last().seq)
        checkEq(listOf<Event>(), auto.pollEvents("mailer"), "all acknowledged")
        val fay = auto.createCustomer(person("Fay"))
        val next = auto.pollEvents("mailer")
        checkEq(listOf<EventPayload>(EventPayload.CustomerCreated(fay)), next.map { it.payload }, "the next event")
        checkEq(first.last().seq + 1uL, next.single().seq, "sequence numbers go on")
        assertThrows<CrmException.Validation> { auto.ackEvents(" ", 1uL) }
    }
    auto.close()

    test("advanceTo: a time-based segment changes as time passes") {
        Crm.openInMemory().use { mem ->
            mem.defineSegment(SegmentDefinition("lapsed", SegmentKind.DYNAMIC,
                rule = "count(purchase) > 0 and days_since(purchase) >= 90"))
            val gus = mem.createCustomer(person("Gus"))
            val bought = Instant.now().truncatedTo(ChronoUnit.MICROS).minus(89, ChronoUnit.DAYS).minus(12, ChronoUnit.HOURS)
            mem.record(NewInteraction(customerId = gus.id, occurredAt = bought, kind = InteractionKind.Purchase(total = usd("20.00"))))
            checkEq(listOf<String>(), mem.segmentsOf(gus.id), "day 89: not lapsed")
            val row = mem.memberships(gus.id).single()
            checkEq(false, row.member, "not a member")
            checkEq(bought.plus(90, ChronoUnit.DAYS), row.nextCheck, "a re-check is scheduled for day 90")
            checkEq(0uL, mem.advanceTo(Instant.now()), "nothing due yet")
            checkEq(1uL, mem.advanceTo(Instant.now().plus(1, ChronoUnit.DAYS)), "one re-check due")
            checkEq(listOf("lapsed"), mem.segmentsOf(gus.id), "day 90: lapsed")
            val entry = mem.eventsAfter(0uL, 100u).last().payload as EventPayload.SegmentEntered
            checkEq("lapsed", entry.segment, "entry event")
            checkEq(listOf("days_since(purchase) >= 90 became true"), entry.reason, "the predicate that flipped")
        }
    }

    test("objects: every field type round-trips, customer links, queries with paging, conflicts, history, events") {
        Crm.openInMemory().use { mem ->
            val type = mem.defineObjectType("invoice", listOf(
                ObjectFieldSpec("number", ObjectFieldType.STRING, required = true, indexed = true),
                ObjectFieldSpec("seats", ObjectFieldType.INTEGER, indexed = true),
                ObjectFieldSpec("total", ObjectFieldType.DECIMAL, indexed = true),
                ObjectFieldSpec("paid", ObjectFieldType.BOOL),
                ObjectFieldSpec("due", ObjectFieldType.DATE),
                ObjectFieldSpec("sentAt", ObjectFieldType.DATETIME),
                ObjectFieldSpec("labels", ObjectFieldType.STRING_LIST),
                ObjectFieldSpec("customer", ObjectFieldType.CUSTOMER),
            ))
            checkEq(1uL, type.revision, "type revision")
            checkEq(ObjectFieldSpec("customer", ObjectFieldType.CUSTOMER, indexed = true), type.fields.last(), "a customer link is indexed")
            checkEq(listOf(type), mem.objectTypes(), "object types")
            checkEq(type, mem.objectType("invoice"), "object type by name")
            checkEq(null, mem.objectType("nope"), "unknown type")

            val seen = CopyOnWriteArrayList<Event>()
            val handle = mem.addListener(object : CrmListener {
                override fun onEvent(event: Event) { seen += event }
            })
            val ada = mem.createCustomer(person("Ada", email("ada@example.org")))
            val sentAt = Instant.parse("2024-05-01T09:30:00.123456789Z")
            val fields = mapOf(
                "number" to ObjectValue.String("INV-1"),
                "seats" to ObjectValue.Integer(-3),
                "total" to ObjectValue.Decimal("49.90"),
                "paid" to ObjectValue.Bool(false),
                "due" to ObjectValue.Date("2024-06-30"),
                "sentAt" to ObjectValue.Datetime(sentAt),
                "labels" to ObjectValue.StringList(listOf("b", "a")),
                "customer" to ObjectValue.Customer(ada.id),
            )
            val inv = mem.createObject("invoice", fields, id = "INV-1", source = "shop")
            checkEq(listOf("invoice", "INV-1"), listOf(inv.objectType, inv.id), "type and id")
            checkEq(1uL, inv.revision, "revision")
            checkEq(fields + ("sentAt" to ObjectValue.Datetime(Instant.parse("2024-05-01T09:30:00.123456Z"))), inv.fields,
                "exact round trip (times kept to the microsecond)")
            checkEq(ObjectValue.Decimal("49.90"), inv.fields["total"], "the decimal keeps its scale")
            checkEq(inv, mem.getObject("invoice", "INV-1"), "read back")
            checkEq(null, mem.getObject("invoice", "INV-404"), "no such object")
            checkEq(mapOf<String, ObjectValue>("customer" to ObjectValue.Customer(ada.id), "total" to ObjectValue.Decimal("12.50")),
                mem.parseObjectFields("invoice", mapOf("customer" to "ada@example.org", "total" to "12.50")), "fields from text, a link by e-mail")
            val generated = mem.createObject("invoice", mapOf("number" to ObjectValue.String("INV-0")))
            checkEq(36, generated.id.length, "a generated UUID id")
            mem.deleteObject("invoice", generated.id)

            for ((id, seats, total) in listOf(Triple("a", 5L, "10.00"), Triple("b", 50L, "99.5"), Triple("c", 10L, "20"),
                Triple("d", 10L, "7.25"), Triple("e", 30L, "1"))) {
                mem.createObject("invoice", mapOf("number" to ObjectValue.String(id.uppercase()),
                    "seats" to ObjectValue.Integer(seats), "total" to ObjectValue.Decimal(total)), id = id)
            }
            fun ids(p: ObjectPage) = p.items.map { it.id }
            checkEq(listOf("INV-1", "a", "b", "c", "d", "e"), ids(mem.objects("invoice")), "all, by id")
            checkEq(listOf("c", "d"), ids(mem.objects("invoice", ObjectQuery(field = "seats", equal = ObjectValue.Integer(10)))), "equal")
            checkEq(listOf("e", "d", "a"), ids(mem.objects("invoice", ObjectQuery(field = "total", max = ObjectValue.Decimal("10")))),
                "decimals by value")
            val range = ObjectQuery(field = "seats", min = ObjectValue.Integer(10), max = ObjectValue.Integer(30), limit = 2u)
            val first = mem.objects("invoice", range)
            checkEq(listOf("c", "d"), ids(first), "first page")
            check(first.next != null) { "a next cursor" }
            val second = mem.objects("invoice", range.copy(after = first.next))
            checkEq(listOf("e"), ids(second), "second page")
            checkEq(null, second.next, "last page")
            assertThrows<CrmException.Validation> { mem.objects("invoice", ObjectQuery(field = "paid", equal = ObjectValue.Bool(true))) }
            assertThrows<CrmException.Validation> { mem.objects("invoice", ObjectQuery(field = "seats", equal = ObjectValue.String("ten"))) }
            assertThrows<CrmException.NotFound> { mem.objects("nope") }

            val updated = mem.updateObject("invoice", "INV-1", set = mapOf("paid" to ObjectValue.Bool(true)),
                unset = listOf("labels"), expectedRevision = 1uL, source = "billing")
            checkEq(2uL, updated.revision, "revision after update")
            checkEq(null, updated.fields["labels"], "unset")
            val stale = assertThrows<CrmException.Conflict> {
                mem.updateObject("invoice", "INV-1", set = mapOf("seats" to ObjectValue.Integer(1)), expectedRevision = 1uL)
            }
            check(stale.message!!.contains("INV-1") && stale.message!!.contains("changed concurrently")) { "readable: ${stale.message}" }
            assertThrows<CrmException.Conflict> { mem.deleteObject("invoice", "INV-1", expectedRevision = 1uL) }
            assertThrows<CrmException.Conflict> { mem.createObject("invoice", mapOf("number" to ObjectValue.String("X")), id = "a") }
            val missing = assertThrows<CrmException.Validation> { mem.createObject("invoice", mapOf("seats" to ObjectValue.Integer(1))) }
            checkEq("invalid invoice.number: is required", missing.message, "required field")
            assertThrows<CrmException.Validation> { mem.createObject("invoice", mapOf("number" to ObjectValue.Integer(1))) }
            assertThrows<CrmException.Validation> { mem.createObject("invoice", mapOf("number" to ObjectValue.String("X"), "total" to ObjectValue.Decimal("12,50"))) }
            assertThrows<CrmException.NotFound> {
                mem.createObject("invoice", mapOf("number" to ObjectValue.String("X"), "customer" to ObjectValue.Customer("0190a8e2-7f3c-7000-8000-000000000000")))
            }
            assertThrows<CrmException.Conflict> { mem.defineObjectType("invoice", listOf(ObjectFieldSpec("number", ObjectFieldType.INTEGER))) }

            val deleted = mem.deleteObject("invoice", "INV-1", expectedRevision = 2uL)
            checkEq(updated, deleted, "the deleted object")
            checkEq(null, mem.getObject("invoice", "INV-1"), "gone")
            assertThrows<CrmException.NotFound> { mem.deleteObject("invoice", "INV-1") }
            val history = mem.objectHistory("invoice", "INV-1")
            checkEq(listOf(ObjectChangeKind.CREATED, ObjectChangeKind.UPDATED, ObjectChangeKind.DELETED), history.map { it.kind }, "history kinds")
            checkEq(listOf("shop", "billing", "crmkit"), history.map { it.actor }, "actors")
            checkEq(listOf(ObjectFieldChange("labels", ObjectValue.StringList(listOf("b", "a")), null),
                ObjectFieldChange("paid", ObjectValue.Bool(false), ObjectValue.Bool(true))), history[1].fields, "changed fields")

            val objectEvents = seen.filter { it.typeName.startsWith("object_") && it.customerId == ada.id }
            checkEq(listOf<EventPayload>(EventPayload.ObjectCreated(inv), EventPayload.ObjectUpdated(inv, updated), EventPayload.ObjectDeleted(deleted)),
                objectEvents.map { it.payload }, "object events at the listener, about Ada")
            checkEq(listOf("object_created", "object_updated", "object_deleted"), objectEvents.map { it.typeName }, "type names")
            checkEq(0uL, handle.failures(), "no listener failures")
            handle.close()
        }
    }

    test("CDNOW: the same import, models and scores as the Rust CLI, to the last digit") {
        val fitJson = Json.parse(File(expected, "fit.json").readText()) as Map<*, *>
        Crm.open(File(work, "cdnow.db").path).use { cd ->
            val report = cd.importInteractions(ImportSource.File(cdnow.path), cdnowMapping, ImportOptions(createMissingCustomers = true))
            checkEq(69_659uL, report.interactionsWritten, "transactions")
            checkEq(23_570uL, report.customersCreated, "customers")
            checkEq(listOf(usd("2500315.63")), cd.summary().revenue, "revenue")

            val fit = cd.fitValue(ValueOptions(asOf = Instant.parse("1997-09-30T23:59:59Z"), timeUnit = "week", model = PurchaseModel.BG_NBD))
            val purchase = fitJson.obj("purchase_model")
            checkEq(purchase["log_likelihood"].num(), fit.model.purchaseFit.logLikelihood, "BG/NBD log-likelihood")
            compareParameters(purchase.obj("parameters"), fit.model.purchaseFit.parameters, "BG/NBD")
            compareParameters(fitJson.obj("spend_model").obj("parameters"), fit.model.spendFit!!.parameters, "Gamma-Gamma")
            checkEq(fitJson["customers_scored"].num().toULong(), fit.customersScored, "customers scored")
            checkEq(fitJson["horizon"].num(), fit.model.horizon, "horizon")

            val files = expected.listFiles { f -> f.name.startsWith("score-") }!!.sortedBy { it.name }
            check(files.isNotEmpty()) { "no expected scores in $expected" }
            for (f in files) {
                val key = "ext:cdnow:" + f.name.removePrefix("score-").removeSuffix(".json")
                val want = Json.parse(f.readText()) as Map<*, *>
                val got = cd.explainValue(cd.lookup(key).id)
                val ws = want.obj("scores")
                val s = got.score
                for ((name, value) in listOf("frequency" to s.frequency, "recency" to s.recency, "age" to s.age,
                    "monetary" to s.monetary, "p_alive" to s.pAlive, "expected_purchases" to s.expectedPurchases,
                    "expected_spend" to s.expectedSpend, "clv" to s.clv)) {
                    checkEq(ws[name].numOrNull(), value, "$key $name")
                }
                checkEq((ws["rfm"] as List<*>).map { (it as Double).toInt() },
                    listOf(s.rfm.recency.toInt(), s.rfm.frequency.toInt(), s.rfm.monetary.toInt()), "$key rfm")
                checkEq(ws["segment"], s.segment, "$key segment")
                checkEq(want["clv_horizon_purchases"].num(), got.clvHorizonPurchases, "$key clv horizon purchases")
                checkEq(want["discount_factor"].numOrNull(), got.discountFactor, "$key discount factor")
                checkEq(want["explanation"], got.text, "$key explanation text")
            }
            println("      compared ${purchase.obj("parameters").size + 3} parameters and ${files.size} customers' scores with the CLI")
        }
    }

    println("$passed passed, $failed failed")
    exitProcess(if (failed == 0) 0 else 1)
}

private fun compareParameters(want: Map<*, *>, got: List<ModelParameter>, model: String) {
    checkEq(want.keys, got.map { it.name }.toSet(), "$model parameter names")
    for (p in got) {
        val w = want.obj(p.name)
        checkEq(w["value"].num(), p.value, "$model ${p.name}")
        checkEq(w["standard_error"].numOrNull(), p.standardError, "$model ${p.name} standard error")
    }
}

@Suppress("UNCHECKED_CAST")
private fun Map<*, *>.obj(key: String): Map<String, Any?> =
    (this[key] ?: throw CheckFailed("no \"$key\" in the CLI's JSON")) as Map<String, Any?>
private fun Any?.num(): Double = this as? Double ?: throw CheckFailed("expected a number, got $this")
private fun Any?.numOrNull(): Double? = if (this == null) null else num()

/** Just enough JSON to read the CLI's output: numbers become Doubles (parsed exactly, as Rust printed them). */
private object Json {
    fun parse(text: String): Any? = Parser(text).run { val v = value(); ws(); check(i == s.length) { "trailing JSON" }; v }

    private class Parser(val s: String) {
        var i = 0
        fun ws() { while (i < s.length && s[i].isWhitespace()) i++ }
        fun value(): Any? {
            ws()
            return when (s[i]) {
                '{' -> { i++; val m = LinkedHashMap<String, Any?>(); ws()
                    if (s[i] == '}') { i++; return m }
                    while (true) { ws(); val k = string(); ws(); expect(':'); m[k] = value(); ws()
                        if (s[i] == ',') i++ else { expect('}'); return m } } }
                '[' -> { i++; val l = ArrayList<Any?>(); ws()
                    if (s[i] == ']') { i++; return l }
                    while (true) { l += value(); ws(); if (s[i] == ',') i++ else { expect(']'); return l } } }
                '"' -> string()
                't' -> { i += 4; true }
                'f' -> { i += 5; false }
                'n' -> { i += 4; null }
                else -> { val start = i; while (i < s.length && s[i] in "+-0123456789.eE") i++; s.substring(start, i).toDouble() }
            }
        }
        fun expect(c: Char) { check(s[i] == c) { "expected '$c' at $i" }; i++ }
        fun string(): String {
            expect('"')
            val b = StringBuilder()
            while (s[i] != '"') {
                if (s[i] == '\\') {
                    i++
                    when (val e = s[i]) {
                        'n' -> b.append('\n'); 't' -> b.append('\t'); 'r' -> b.append('\r'); 'b' -> b.append('\b')
                        'f' -> b.append('\u000c'); 'u' -> { b.append(s.substring(i + 1, i + 5).toInt(16).toChar()); i += 4 }
                        else -> b.append(e)
                    }
                } else b.append(s[i])
                i++
            }
            i++
            return b.toString()
        }
    }
}
