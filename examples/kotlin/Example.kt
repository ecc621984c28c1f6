// crmkit in a Kotlin app: a small shop keeps its customers on the device and knows who is worth
// a retention offer. Run by scripts/test-kotlin.sh; on Android, `filesDir` replaces the argument
// and the calls move off the main thread the same way.
//
//   java -Djna.library.path=target/release -cp classes:kotlin-stdlib.jar:jna.jar dev.crmkit.example.ExampleKt DIR
package dev.crmkit.example

import dev.crmkit.*
import java.io.File
import java.time.Instant
import java.time.temporal.ChronoUnit
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.Executors
import java.util.concurrent.atomic.AtomicInteger

/** What the app's screens call: one Crm for the app's lifetime, plain values in and out. */
class ShopCrm(dir: File) : AutoCloseable {
    private val crm = Crm.open(File(dir, "shop-crm.db").path)

    /** Sign-up form: a prospect with an e-mail and marketing consent. Returns the customer's id. */
    fun signUp(name: String, email: String, newsletter: Boolean): String =
        try {
            crm.createCustomer(NewCustomer(
                name = name,
                kind = CustomerKind.PERSON,
                stage = LifecycleStage.Prospect,
                identities = listOf(IdentityKey(IdentityKind.Email, email)),
                consents = listOf(ConsentChoice("newsletter", Channel.Email,
                    if (newsletter) ConsentStatus.GRANTED else ConsentStatus.DENIED)),
                source = "app:signup",
            )).id
        } catch (e: CrmException.Conflict) {
            crm.lookup(email).id // signed up before: same customer
        }

    /** Checkout: the order id makes the write safe to retry (offline queue, flaky network). */
    fun checkout(customerId: String, orderId: String, total: String, at: Instant) {
        crm.record(NewInteraction(
            customerId = customerId,
            occurredAt = at,
            kind = InteractionKind.Purchase(total = Money(total, "EUR")),
            channel = Channel.Web,
            idempotencyKey = "order:$orderId",
        ))
        val c = crm.customer(customerId)
        if (c.stage != LifecycleStage.Customer) {
            crm.updateCustomer(customerId, listOf(CustomerChange.SetStage(LifecycleStage.Customer)), source = "app:checkout")
        }
    }

    /** A nightly job: refit the models on the device's purchases. */
    fun refreshScores(now: Instant): ValueFit = crm.fitValue(ValueOptions(asOf = now, currency = "EUR"))

    /** The customers to win back: valuable, but probably drifting away. */
    fun atRisk(limit: Int): List<Pair<Customer, CustomerScore>> =
        crm.topScores(100u)
            .filter { it.pAlive < 0.5 }
            .take(limit)
            .map { crm.customer(it.customerId) to it }

    fun explain(email: String): String = crm.explainValue(crm.lookup(email).id).text

    fun revenue(): List<Money> = crm.summary(top = 0u).revenue

    /**
     * Segments and a playbook, defined at start-up (defining them again unchanged writes nothing).
     * "regulars" fills as purchases arrive; "drifting" is on the model's output, so it fills when
     * scores are stored. Entering "regulars" makes a task for the shop and asks the app for a coupon.
     */
    fun defineAutomation() {
        crm.defineSegment(SegmentDefinition("regulars", SegmentKind.DYNAMIC, rule = "count(purchase) >= 10",
            description = "ten purchases or more"))
        crm.defineSegment(SegmentDefinition("drifting", SegmentKind.DYNAMIC,
            rule = "segment(\"regulars\") and p_alive < 0.5"))
        crm.definePlaybook(Playbook(name = "thank-regulars", segment = "regulars", actions = listOf(
            Action.CreateTask(title = "Send a thank-you card", dueInDays = 7u, assignee = "shop"),
            Action.Emit(action = "push_coupon", payloadJson = """{"pct":10}"""),
        )))
    }

    /** Events as they happen (on the writing thread: hand them on, do not block). Keep the handle. */
    fun listen(handler: (Event) -> Unit): ListenerHandle = crm.addListener(object : CrmListener {
        override fun onEvent(event: Event) = handler(event)
    })

    /** The durable way: a sync job reads the outbox from its cursor and acknowledges what it sent. */
    fun syncEvents(send: (List<Event>) -> Unit): Int {
        var sent = 0
        while (true) {
            val batch = crm.pollEvents("server-sync", limit = 500u)
            if (batch.isEmpty()) return sent
            send(batch)                                    // if this throws, the batch comes again next time
            crm.ackEvents("server-sync", batch.last().seq)
            sent += batch.size
        }
    }

    fun segmentSizes(): Map<String, ULong> = crm.segmentSizes().associate { it.segment to it.members }
    fun whyIn(segment: String, customerId: String): String =
        crm.explainSegment(segment, customerId).predicates.joinToString(", ") { "${it.predicate}: ${it.holds}" }
    fun openTasks(): List<CrmTask> = crm.tasks(TaskQuery(status = TaskStatus.OPEN, limit = 1000u))
    fun firstMember(segment: String): String? = crm.segmentMembers(segment, limit = 1u).firstOrNull()

    override fun close() = crm.close()
}

fun main(args: Array<String>) {
    val dir = File(args.firstOrNull() ?: "build/example").apply { mkdirs() }
    File(dir, "shop-crm.db").delete()
    val start = Instant.parse("2024-01-08T10:00:00Z")
    ShopCrm(dir).use { shop ->
        shop.defineAutomation()
        val eventCounts = ConcurrentHashMap<String, AtomicInteger>()
        val coupons = AtomicInteger()
        val listener = shop.listen { event ->
            eventCounts.computeIfAbsent(event.typeName) { AtomicInteger() }.incrementAndGet()
            val payload = event.payload
            if (payload is EventPayload.Action && payload.action == "push_coupon") coupons.incrementAndGet() // the app would send a push
        }
        // Two "screens" writing at once, as an app's background work does.
        val pool = Executors.newFixedThreadPool(2)
        val jobs = (0 until 40).map { n ->
            pool.submit {
                val id = shop.signUp("Customer $n", "c$n@example.org", newsletter = n % 2 == 0)
                // Customer n buys every 1 to 5 weeks, from week n % 7, and stops some time in the year.
                val lastWeek = 8 + (n * 13) % 36
                var week = n % 7
                while (week <= lastWeek) {
                    val at = start.plus(week * 7L + n % 5, ChronoUnit.DAYS)
                    shop.checkout(id, "$n-$week", "${20 + 5 * (n % 9)}.90", at)
                    week += 1 + n % 5
                }
            }
        }
        jobs.forEach { it.get() }
        pool.shutdown()
        shop.signUp("Customer 3", "C3@Example.org", newsletter = true) // a second sign-up: no duplicate

        val fit = shop.refreshScores(Instant.parse("2024-10-31T23:59:59Z"))
        val params = fit.model.purchaseFit.parameters.joinToString { "%s=%.4g".format(it.name, it.value) }
        println("revenue ${shop.revenue().joinToString { "${it.amount} ${it.currency}" }}")
        println("model v${fit.model.version} (${fit.model.purchaseModel}) on ${fit.customersScored} customers: $params")
        println("worth winning back:")
        for ((c, s) in shop.atRisk(3)) {
            println("  %-12s P(alive) %.2f  CLV %8.2f EUR  %s".format(c.name, s.pAlive, s.clv ?: 0.0, s.segment))
        }
        println(shop.explain("c2@example.org"))

        println("segments: ${shop.segmentSizes()}")
        shop.firstMember("regulars")?.let { println("why in regulars: ${shop.whyIn("regulars", it)}") }
        println("events seen by the listener: ${eventCounts.toSortedMap().mapValues { it.value.get() }}")
        println("coupons pushed: ${coupons.get()}, open tasks: ${shop.openTasks().size} (\"${shop.openTasks().firstOrNull()?.title}\")")
        println("events synced from the outbox: ${shop.syncEvents { /* POST them to the server */ }}")
        listener.close()
        try {
            shop.checkout("not-an-id", "x", "1.00", start)
        } catch (e: CrmException) {
            println("refused: ${e::class.simpleName}: ${e.message}")
        }
    }
}
