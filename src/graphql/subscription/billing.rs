//! Live billing run progress. Fed only by committed state: the engine
//! publishes after each commit. A subscriber that lags behind the bounded
//! channel re-reads the run from the database instead of silently missing
//! updates.

use async_graphql::{Context, Subscription, ID};
use entity::billing_run;
use futures_util::stream::{self, Stream};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;

use crate::domain::access::{Principal, Scope};
use crate::graphql::guard::{principal, Needs};
use crate::graphql::types::billing::BillingRun;
use crate::graphql::types::parse_id;
use crate::service::{runs, Ctx, ServiceError};

#[derive(Default)]
pub struct BillingSubscription;

struct Watch {
    ctx: Ctx,
    principal: Principal,
    rx: Receiver<billing_run::Model>,
    run_id: Option<i64>,
    entity_id: Option<i64>,
    first: Option<billing_run::Model>,
    /// Current states re-read after falling behind, still to send.
    caught_up: std::collections::VecDeque<billing_run::Model>,
    /// The newest state sent per run: an older one arriving late (relayed
    /// after the current state was read) is dropped, so states never go
    /// backwards.
    sent: std::collections::HashMap<i64, Option<chrono::DateTime<chrono::Utc>>>,
    done: bool,
}

fn finished(run: &billing_run::Model) -> bool {
    run.status.is_finished()
}

impl Watch {
    fn wants(&self, run: &billing_run::Model) -> bool {
        runs::update_for(&self.principal, self.run_id, self.entity_id, run)
    }

    /// Whether `run` is newer than anything sent for it; records it.
    fn fresh(&mut self, run: &billing_run::Model) -> bool {
        let newer = self
            .sent
            .get(&run.id)
            .is_none_or(|last| run.updated_at > *last);
        if newer {
            self.sent.insert(run.id, run.updated_at);
        }
        newer
    }

    async fn next(&mut self) -> Option<billing_run::Model> {
        loop {
            let run = self.next_any().await?;
            if self.fresh(&run) {
                self.done = self.run_id.is_some() && finished(&run);
                return Some(run);
            }
        }
    }

    async fn next_any(&mut self) -> Option<billing_run::Model> {
        if self.done {
            return None;
        }
        if let Some(run) = self.first.take().or_else(|| self.caught_up.pop_front()) {
            self.done = self.run_id.is_some() && finished(&run);
            return Some(run);
        }
        loop {
            match self.rx.recv().await {
                Ok(run) if self.wants(&run) => {
                    self.done = self.run_id.is_some() && finished(&run);
                    return Some(run);
                }
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => {
                    // Missed updates: send the current state instead.
                    let Some(id) = self.run_id else {
                        // Following an entity: its latest runs, oldest first.
                        let Some(entity) = self.entity_id else {
                            continue;
                        };
                        let (latest, _) =
                            runs::billing_runs(&self.ctx, &self.principal, entity, Some(20), None)
                                .await
                                .ok()?;
                        self.caught_up.extend(latest.into_iter().rev());
                        match self.caught_up.pop_front() {
                            Some(run) => return Some(run),
                            None => continue,
                        }
                    };
                    let run = runs::billing_run(&self.ctx, &self.principal, id)
                        .await
                        .ok()
                        .flatten()?;
                    self.done = finished(&run);
                    return Some(run);
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

#[Subscription]
impl BillingSubscription {
    /// Every change of a run's status and progress (at least once per
    /// processed chunk), ending with COMPLETED or FAILED. With runId, the
    /// first message is the run's current state; a finished run sends that
    /// one message and completes.
    #[graphql(guard = "Needs(Scope::BillingRead)")]
    async fn billing_run_updated(
        &self,
        ctx: &Context<'_>,
        run_id: Option<ID>,
        legal_entity_id: Option<ID>,
    ) -> async_graphql::Result<impl Stream<Item = BillingRun>> {
        let principal = principal(ctx)?.clone();
        let service = ctx.data::<Ctx>()?.clone();
        // Subscribe before reading the current state, so nothing committed
        // in between is missed (at worst it arrives twice).
        let rx = service.bus.runs.subscribe();
        let run_id = match run_id {
            None => None,
            Some(id) => Some(parse_id(&id).ok_or(ServiceError::NotFound("billing run"))?),
        };
        let entity_id = super::entity_arg(&principal, legal_entity_id)?;
        let first = match run_id {
            Some(id) => Some(
                runs::billing_run(&service, &principal, id)
                    .await?
                    .ok_or(ServiceError::NotFound("billing run"))?,
            ),
            None => None,
        };
        let watch = Watch {
            ctx: service,
            principal,
            rx,
            run_id,
            entity_id,
            first,
            caught_up: Default::default(),
            sent: Default::default(),
            done: false,
        };
        let shutdown = watch.ctx.shutdown.clone();
        let who = watch.principal.clone();
        let runs = stream::unfold(
            watch,
            |mut w| async move { w.next().await.map(|run| (run, w)) },
        );
        Ok(super::bounded(runs, &who, shutdown, BillingRun))
    }
}
