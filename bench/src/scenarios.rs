//! The scenarios. Each measures over real HTTP or WebSocket against the server process and
//! records [`Measurement`]s.

use std::{sync::Arc, time::Duration};

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::{
    Backend, Cli, Scenario,
    api::Api,
    load::{self, Request, Run},
    machine,
    report::{self, Measurement},
    server::{self, Dataset, Server},
    socket::{self, Delivery},
};

const PORT: u16 = 18_080;
const SECOND_PORT: u16 = 18_081;
/// Clients of the closed loops that find peak throughput.
const CLIENTS: usize = 32;
/// Pushes measured per push-latency variant.
const PUSHES: usize = 200;
/// Bursts measured per fan-out variant.
const BURSTS: usize = 5;

const POINT_READ: &str = "query($id: ID!) { lead(id: $id) { id email stage account { name } owner { name } } }";
const SAL_INBOX: &str =
    "{ leads(first: 20, filter: { stages: [SAL] }, orderBy: { field: STAGE_ENTERED_AT, direction: DESC }) {
    edges { node { id email stage account { name } } } } }";
const ACCOUNT_LEADS: &str = "query($id: ID!) { account(id: $id) { name leads(first: 50) {
    edges { node { email stage owner { name } } } } } }";
const ACCEPT: &str =
    "mutation($id: ID!, $owner: ID!) { acceptLead(input: { leadId: $id, ownerId: $owner }) { id version } }";
const FUNNEL: &str = "query($from: DateTime!, $to: DateTime!) {
    funnel(period: { from: $from, to: $to }, groupBy: [MONTH, CHANNEL]) {
        stages { stage current entered conversionToNext }
        groups { group { channel periodStart } stages { stage entered conversionToNext } } } }";
const KPIS: &str = "query($from: DateTime!, $to: DateTime!) {
    kpis(period: { from: $from, to: $to }, groupBy: [MONTH, CHANNEL]) {
        key value status series { group { channel periodStart } value } } }";
const SAL_ALERTS: &str = "subscription { salCreated { occurredAt lead { id email } } }";
const IMPORT: &str = "mutation($leads: [CreateLeadInput!]!) { importLeads(input: { leads: $leads }) { createdCount } }";

struct Bench {
    cli: Cli,
    dataset: Dataset,
    server: Server,
    api: Api,
    admin: String,
    manager: String,
    marketer: String,
    results: Vec<Measurement>,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let dataset = server::prepare(&cli).await?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
    let url = dataset.url.clone();
    let admin = server::token_for_new_user(&cli, &url, "bench-admin@bench.baton", "ADMIN").await?;
    let manager = server::token_for_new_user(&cli, &url, "bench-manager@bench.baton", "SALES_MANAGER").await?;
    let marketer = server::token_for_new_user(&cli, &url, "bench-marketing@bench.baton", "MARKETING").await?;
    let server = Server::start(&cli, &url, PORT, &http).await?;
    let api = Api::new(http, &server.base);
    let mut bench = Bench { cli, dataset, server, api, admin, manager, marketer, results: Vec::new() };
    report::print_header();
    bench.machine("before");
    if let Some(seeded_in) = bench.dataset.seeded_in {
        let leads = bench.dataset.leads as f64;
        bench.record(Measurement {
            scenario: "seed".into(),
            variant: format!("{} leads", bench.dataset.leads),
            value: Some(leads / seeded_in.as_secs_f64()),
            note: format!("leads per second; {:.1} s in all", seeded_in.as_secs_f64()),
            ..Measurement::default()
        });
    }
    let mut scenarios = bench.cli.scenarios.clone();
    if scenarios.contains(&Scenario::All) {
        scenarios = vec![
            Scenario::PointRead,
            Scenario::SalInbox,
            Scenario::AccountLeads,
            Scenario::Kpis,
            Scenario::Accept,
            Scenario::PushLatency,
            Scenario::FanOut,
            Scenario::IdleMemory,
            Scenario::CrossInstance,
            Scenario::Import,
        ];
        // Two instances share a PostgreSQL database only; asked for by name on SQLite, it fails.
        if bench.cli.database != Backend::Postgres {
            scenarios.retain(|scenario| *scenario != Scenario::CrossInstance);
        }
    }
    for scenario in scenarios {
        let outcome = match scenario {
            Scenario::PointRead => bench.point_read().await,
            Scenario::SalInbox => bench.sal_inbox().await,
            Scenario::AccountLeads => bench.account_leads().await,
            Scenario::Kpis => bench.kpis().await,
            Scenario::Accept => bench.accept().await,
            Scenario::PushLatency => bench.push_latency().await,
            Scenario::FanOut => bench.fan_out().await,
            Scenario::IdleMemory => bench.idle_memory().await,
            Scenario::CrossInstance => bench.cross_instance().await,
            Scenario::Import => bench.import().await,
            Scenario::All => Ok(()),
        };
        if let Err(error) = outcome {
            eprintln!("{scenario:?} failed: {error:#}");
        }
    }
    bench.machine("after");
    let path = bench.cli.out.join(format!("{}-{}.json", bench.database(), bench.dataset.leads));
    report::write_json(&path, &bench.results)?;
    println!("results written to {}", path.display());
    bench.server.stop().await;
    Ok(())
}

impl Bench {
    fn database(&self) -> &'static str {
        match self.cli.database {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    fn duration(&self) -> Duration {
        Duration::from_secs(self.cli.seconds)
    }

    /// Times the fixed workload on the server's core (see [`machine`]).
    fn machine(&mut self, when: &str) {
        self.record(Measurement {
            scenario: "machine".into(),
            variant: format!("{when} the scenarios"),
            value: Some(machine::core_ms()),
            note: "ms for a fixed workload on the server's core (median of 5; lower is faster)".into(),
            ..Measurement::default()
        });
    }

    fn record(&mut self, mut measurement: Measurement) {
        measurement.database = self.database().into();
        measurement.leads = self.dataset.leads;
        if measurement.server_rss_mib.is_none() {
            measurement.server_rss_mib = Some(self.server.rss_bytes() as f64 / (1024.0 * 1024.0));
        }
        report::print(&measurement);
        self.results.push(measurement);
    }

    /// Peak throughput with [`CLIENTS`] clients, then latency at half of it.
    async fn read_scenario(&mut self, scenario: &str, request: Request) -> anyhow::Result<()> {
        let peak =
            self.throughput(scenario, &format!("peak, {CLIENTS} clients"), CLIENTS, None, Arc::clone(&request)).await;
        let rate = peak.throughput() / 2.0;
        let run = load::open_loop(rate, self.duration(), 512, request).await;
        self.record(
            Measurement {
                scenario: scenario.into(),
                variant: format!("at half of peak, {rate:.0}/s"),
                requests: run.requests,
                errors: run.errors,
                throughput_per_s: Some(run.throughput()),
                ..Measurement::default()
            }
            .with_latency(&run.latency),
        );
        Ok(())
    }

    /// A closed-loop run, recorded with the server's CPU time and SQL statements per request.
    async fn throughput(
        &mut self,
        scenario: &str,
        variant: &str,
        clients: usize,
        limit: Option<u64>,
        request: Request,
    ) -> Run {
        let (run, measurement) = self.closed(scenario, variant, clients, limit, request).await;
        self.record(measurement);
        run
    }

    /// A closed-loop run and its measurement, not yet recorded.
    async fn closed(
        &self,
        scenario: &str,
        variant: &str,
        clients: usize,
        limit: Option<u64>,
        request: Request,
    ) -> (Run, Measurement) {
        let http = &self.api.http;
        let (cpu, statements) = (self.server.cpu_seconds(), self.server.statements(http).await);
        let run = load::closed_loop(clients, self.duration(), limit, request).await;
        let (cpu, statements) = (self.server.cpu_seconds() - cpu, self.server.statements(http).await - statements);
        let per_request = |total: f64| (run.requests > 0).then(|| total / run.requests as f64);
        let measurement = Measurement {
            scenario: scenario.into(),
            variant: variant.into(),
            requests: run.requests,
            errors: run.errors,
            throughput_per_s: Some(run.throughput()),
            cpu_ms_per_request: per_request(cpu * 1000.0),
            statements_per_request: per_request(statements),
            ..Measurement::default()
        }
        .with_latency(&run.latency);
        (run, measurement)
    }

    async fn point_read(&mut self) -> anyhow::Result<()> {
        // Sales' leads, which have an owner and (most of them) an account to load as well.
        let ids = self.api.lead_ids(&self.admin, json!({ "stages": ["SAL", "SQL"] }), 1000).await?;
        let bodies = ids.iter().map(|id| body(POINT_READ, json!({ "id": id }))).collect();
        let request = cycling(&self.api, &self.manager, bodies);
        self.read_scenario("point-read", request).await
    }

    async fn sal_inbox(&mut self) -> anyhow::Result<()> {
        let rep = self.busiest_rep().await?;
        let request = cycling(&self.api, &rep.token, vec![body(SAL_INBOX, json!({}))]);
        self.read_scenario("sal-inbox", request).await
    }

    async fn account_leads(&mut self) -> anyhow::Result<()> {
        let bodies = self.first_accounts().await?.iter().map(|id| body(ACCOUNT_LEADS, json!({ "id": id }))).collect();
        let request = cycling(&self.api, &self.manager, bodies);
        self.read_scenario("account-leads", request).await
    }

    /// A dashboard's year: one client at a time, as latency is what a dashboard feels.
    async fn kpis(&mut self) -> anyhow::Result<()> {
        let to = Utc::now().date_naive().and_hms_opt(0, 0, 0).context("midnight")?.and_utc();
        let from = to - chrono::Duration::days(365);
        let period = json!({ "from": from.to_rfc3339(), "to": to.to_rfc3339() });
        for (name, query) in [("funnel", FUNNEL), ("kpis", KPIS)] {
            self.api.data(&self.manager, query, period.clone()).await?;
            let request = cycling(&self.api, &self.manager, vec![body(query, period.clone())]);
            self.throughput("kpis", &format!("{name}, a year by month and channel"), 1, None, request).await;
        }
        Ok(())
    }

    async fn accept(&mut self) -> anyhow::Result<()> {
        let reps = self.reps().await?;
        // Enough for each run to last its time at 2,000 moves per second.
        let share = self.cli.seconds as usize * 2000;
        let mqls = self.mqls(3 * share).await?;
        for (round, writers) in [1usize, 8, 32].into_iter().enumerate() {
            let bodies: Vec<String> = mqls[round * share..(round + 1) * share]
                .iter()
                .enumerate()
                .map(|(n, id)| body(ACCEPT, json!({ "id": id, "owner": reps[n % reps.len()].id })))
                .collect();
            let limit = bodies.len() as u64;
            let request = cycling(&self.api, &self.manager, bodies);
            self.throughput("accept", &format!("{writers} writers"), writers, Some(limit), request).await;
        }
        Ok(())
    }

    async fn push_latency(&mut self) -> anyhow::Result<()> {
        let target = self.busiest_rep().await?;
        let others: Vec<String> =
            self.reps().await?.into_iter().filter(|rep| rep.id != target.id).map(|r| r.token).collect();
        if others.is_empty() {
            bail!("the push latency scenario needs at least two reps");
        }
        let mut mqls = self.mqls(2 * PUSHES).await?.into_iter();
        for sockets in [1_000usize, 10_000] {
            let (sender, mut deliveries) = mpsc::unbounded_channel();
            let idle = socket::open(&self.server.base, &others, SAL_ALERTS, sockets - 1, sender.clone()).await?;
            let rep_socket =
                socket::open(&self.server.base, std::slice::from_ref(&target.token), SAL_ALERTS, 1, sender).await?;
            tokio::time::sleep(Duration::from_secs(1)).await;
            let mut latency = histogram();
            for _ in 0..PUSHES {
                let lead = mqls.next().context("ran out of MQLs")?;
                self.accept_one(&lead, &target.id).await?;
                let delivery = next_delivery(&mut deliveries, Duration::from_secs(5)).await?;
                let _ = latency.record(micros_since(&delivery, "salCreated"));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            self.record(
                Measurement {
                    scenario: "push-latency".into(),
                    variant: format!("{} sockets", idle.len() + rep_socket.len()),
                    requests: PUSHES as u64,
                    note: "occurredAt of the SAL to its arrival at the rep's socket".into(),
                    ..Measurement::default()
                }
                .with_latency(&latency),
            );
        }
        Ok(())
    }

    async fn fan_out(&mut self) -> anyhow::Result<()> {
        let reps = self.reps().await?;
        let mut mqls = self.mqls(2 * BURSTS).await?.into_iter();
        for subscribers in [2_000usize, 10_000] {
            let (sender, mut deliveries) = mpsc::unbounded_channel();
            let sockets =
                socket::open(&self.server.base, std::slice::from_ref(&self.manager), SAL_ALERTS, subscribers, sender)
                    .await?;
            tokio::time::sleep(Duration::from_secs(1)).await;
            let (mut all, mut last) = (histogram(), histogram());
            for _ in 0..BURSTS {
                let lead = mqls.next().context("ran out of MQLs")?;
                self.accept_one(&lead, &reps[0].id).await?;
                let mut slowest = 0;
                for _ in 0..subscribers {
                    let micros =
                        micros_since(&next_delivery(&mut deliveries, Duration::from_secs(10)).await?, "salCreated");
                    let _ = all.record(micros);
                    slowest = slowest.max(micros);
                }
                let _ = last.record(slowest);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            let median_last = last.value_at_quantile(0.5) as f64 / 1000.0;
            self.record(
                Measurement {
                    scenario: "fan-out".into(),
                    variant: format!("{} subscribers", sockets.len()),
                    requests: BURSTS as u64,
                    value: Some(median_last),
                    note: format!(
                        "ms to the last delivery, median of {BURSTS} bursts (max {:.1} ms)",
                        last.max() as f64 / 1000.0
                    ),
                    ..Measurement::default()
                }
                .with_latency(&all),
            );
        }
        Ok(())
    }

    async fn idle_memory(&mut self) -> anyhow::Result<()> {
        const SOCKETS: usize = 10_000;
        let tokens: Vec<String> = self.reps().await?.into_iter().map(|rep| rep.token).collect();
        // A fresh server, so memory other scenarios left allocated does not hide the sockets'.
        self.restart().await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let before = self.server.rss_bytes();
        let (sender, _deliveries) = mpsc::unbounded_channel();
        let sockets = socket::open(&self.server.base, &tokens, SAL_ALERTS, SOCKETS, sender).await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let after = self.server.rss_bytes();
        let per_socket = after.saturating_sub(before) as f64 / sockets.len() as f64 / 1024.0;
        self.record(Measurement {
            scenario: "idle-memory".into(),
            variant: format!("{} sockets", sockets.len()),
            value: Some(per_socket),
            note: format!("KiB of server memory per idle subscribed socket ({} → {} MiB)", before >> 20, after >> 20),
            ..Measurement::default()
        });
        Ok(())
    }

    async fn cross_instance(&mut self) -> anyhow::Result<()> {
        if self.cli.database != Backend::Postgres {
            bail!("two instances share a PostgreSQL database only");
        }
        let second = Server::start(&self.cli, &self.dataset.url, SECOND_PORT, &self.api.http).await?;
        let target = self.busiest_rep().await?;
        let (sender, mut deliveries) = mpsc::unbounded_channel();
        let _socket = socket::open(&second.base, std::slice::from_ref(&target.token), SAL_ALERTS, 1, sender).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mqls = self.mqls(PUSHES).await?;
        let mut latency = histogram();
        for lead in &mqls {
            self.accept_one(lead, &target.id).await?;
            let _ = latency
                .record(micros_since(&next_delivery(&mut deliveries, Duration::from_secs(5)).await?, "salCreated"));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.record(
            Measurement {
                scenario: "cross-instance".into(),
                variant: "accept on A, socket on B".into(),
                requests: mqls.len() as u64,
                note: "occurredAt of the SAL to its arrival through the other instance".into(),
                ..Measurement::default()
            }
            .with_latency(&latency),
        );
        second.stop().await;
        Ok(())
    }

    async fn import(&mut self) -> anyhow::Result<()> {
        const BATCH: usize = 1000;
        let run = uuid::Uuid::now_v7().simple().to_string();
        let bodies: Vec<String> = (0..100)
            .map(|batch| {
                let leads: Vec<Value> = (0..BATCH)
                    .map(|n| json!({ "email": format!("import-{run}-{batch}-{n}@bench.baton"), "channel": "WEBINAR" }))
                    .collect();
                body(IMPORT, json!({ "leads": leads }))
            })
            .collect();
        let limit = bodies.len() as u64;
        let request = cycling(&self.api, &self.marketer, bodies);
        let variant = format!("{BATCH} leads per request, 2 clients");
        let (run, mut measurement) = self.closed("import", &variant, 2, Some(limit), request).await;
        measurement.value = Some(run.throughput() * BATCH as f64);
        measurement.note = "leads imported per second".into();
        self.record(measurement);
        Ok(())
    }

    /// Ids of `count` MQLs, qualifying imported leads when the seeded ones have run out.
    async fn mqls(&self, count: usize) -> anyhow::Result<Vec<String>> {
        let mut mqls = self.api.lead_ids(&self.admin, json!({ "stages": ["MQL"] }), count).await?;
        let missing = count.saturating_sub(mqls.len());
        if missing == 0 {
            return Ok(mqls);
        }
        eprintln!("qualifying {missing} new leads into MQLs …");
        // They belong to accounts, as seeded leads do, so that the inboxes their acceptance
        // fills load accounts too.
        let accounts = self.first_accounts().await?;
        let run = uuid::Uuid::now_v7().simple().to_string();
        for batch in 0..missing.div_ceil(1000) {
            let leads: Vec<Value> = (0..1000.min(missing - batch * 1000))
                .map(|n| {
                    json!({
                        "email": format!("mql-{run}-{batch}-{n}@bench.baton"),
                        "channel": "EVENT",
                        "accountId": accounts.get(n % accounts.len().max(1)),
                    })
                })
                .collect();
            let query =
                "mutation($leads: [CreateLeadInput!]!) { importLeads(input: { leads: $leads }) { created { id } } }";
            let data = self.api.data(&self.marketer, query, json!({ "leads": leads })).await?;
            let created: Vec<String> = data["importLeads"]["created"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|lead| lead["id"].as_str().map(str::to_owned))
                .collect();
            let qualify = "mutation($id: ID!) { qualifyLead(input: { leadId: $id }) { id } }";
            let bodies = created.iter().map(|id| body(qualify, json!({ "id": id }))).collect::<Vec<_>>();
            let limit = bodies.len() as u64;
            let run =
                load::closed_loop(8, Duration::from_secs(600), Some(limit), cycling(&self.api, &self.marketer, bodies))
                    .await;
            if run.errors > 0 {
                bail!("{} of {} leads could not be qualified", run.errors, run.requests);
            }
            mqls.extend(created);
        }
        Ok(mqls)
    }

    /// Ids of the first hundred accounts by name.
    async fn first_accounts(&self) -> anyhow::Result<Vec<String>> {
        let data = self.api.data(&self.admin, "{ accounts(first: 100) { edges { node { id } } } }", json!({})).await?;
        Ok(nodes(&data["accounts"]).filter_map(|node| node["id"].as_str().map(str::to_owned)).collect())
    }

    /// Replaces the server with a fresh process on the same port.
    async fn restart(&mut self) -> anyhow::Result<()> {
        let fresh = PORT + 2;
        let started = Server::start(&self.cli, &self.dataset.url, fresh, &self.api.http).await?;
        std::mem::replace(&mut self.server, started).stop().await;
        self.api = Api::new(self.api.http.clone(), &self.server.base);
        Ok(())
    }

    async fn accept_one(&self, lead: &str, owner: &str) -> anyhow::Result<()> {
        self.api.data(&self.manager, ACCEPT, json!({ "id": lead, "owner": owner })).await.map(drop)
    }

    /// The reps owning SALs, with tokens, busiest first.
    async fn reps(&self) -> anyhow::Result<Vec<Rep>> {
        // The oldest SALs: the seed spreads them over every rep, while the newest may all be
        // the accept scenario's one rep.
        let query = "{ leads(first: 100, filter: { stages: [SAL] }, orderBy: { field: CREATED_AT, direction: ASC }) {
            edges { node { owner { id email } } } } }";
        let data = self.api.data(&self.admin, query, json!({})).await?;
        let mut owners: Vec<(String, String)> = nodes(&data["leads"])
            .filter_map(|node| {
                Some((node["owner"]["id"].as_str()?.to_owned(), node["owner"]["email"].as_str()?.to_owned()))
            })
            .collect();
        let count = |id: &str, owners: &[(String, String)]| owners.iter().filter(|(o, _)| o == id).count();
        let all = owners.clone();
        // Busiest first; equal counts by id, so each rep's entries end up next to each other.
        owners.sort_by(|a, b| count(&b.0, &all).cmp(&count(&a.0, &all)).then_with(|| a.0.cmp(&b.0)));
        owners.dedup();
        let mut reps = Vec::new();
        for (id, email) in owners.into_iter().take(50) {
            let token = server::token(&self.cli, &self.dataset.url, &email).await?;
            reps.push(Rep { id, token });
        }
        if reps.is_empty() {
            bail!("no rep owns a SAL in this database");
        }
        Ok(reps)
    }

    async fn busiest_rep(&self) -> anyhow::Result<Rep> {
        self.reps().await?.into_iter().next().context("no rep")
    }
}

struct Rep {
    id: String,
    token: String,
}

fn body(query: &str, variables: Value) -> String {
    json!({ "query": query, "variables": variables }).to_string()
}

/// A request sending `bodies` in turn as `token`.
fn cycling(api: &Api, token: &str, bodies: Vec<String>) -> Request {
    let (api, token, bodies) = (api.clone(), token.to_owned(), Arc::new(bodies));
    Arc::new(move |n| {
        let (api, token) = (api.clone(), token.clone());
        let body = bodies[n as usize % bodies.len()].clone();
        Box::pin(async move { api.succeeds(&token, body).await })
    })
}

fn nodes(connection: &Value) -> impl Iterator<Item = &Value> {
    connection["edges"].as_array().into_iter().flatten().map(|edge| &edge["node"])
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

async fn next_delivery(
    deliveries: &mut mpsc::UnboundedReceiver<Delivery>,
    within: Duration,
) -> anyhow::Result<Delivery> {
    tokio::time::timeout(within, deliveries.recv()).await.ok().flatten().context("a push did not arrive in time")
}

/// Microseconds from the event's `occurredAt` to its arrival.
fn micros_since(delivery: &Delivery, field: &str) -> u64 {
    let occurred =
        delivery.payload["data"][field]["occurredAt"].as_str().and_then(|at| at.parse::<DateTime<Utc>>().ok());
    occurred.map_or(0, |at| (delivery.received_at - at).num_microseconds().unwrap_or_default().max(0) as u64)
}
