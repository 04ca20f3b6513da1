//! A replay phase's requests (`[phase.replay]`): each row of the schedule
//! names what to do and to which data set object; the worker loop paces
//! them open-loop on the schedule (see `Pacing::Replay`).

use crate::client::{ObjectClient, Outcome};
use crate::s3::OpKind;
use crate::scenario::{ReplayOp, ReplayRow};

use super::ops::{OpContext, WorkerState};

/// The report's op a replayed request is counted under.
pub(super) fn kind(op: ReplayOp) -> OpKind {
    match op {
        ReplayOp::Get => OpKind::Get,
        ReplayOp::RangedGet => OpKind::RangedGet,
        ReplayOp::Head => OpKind::Head,
        ReplayOp::Put => OpKind::Put,
        ReplayOp::MultipartPut => OpKind::MultipartPut,
        ReplayOp::Delete => OpKind::Delete,
        ReplayOp::List => OpKind::List,
        ReplayOp::Copy => OpKind::Copy,
    }
}

/// Sends one row's request.
pub(super) async fn execute<C: ObjectClient>(
    cx: &OpContext<'_, C>,
    row: &ReplayRow,
    st: &mut WorkerState,
) -> Outcome {
    match row.op {
        ReplayOp::Get => {
            cx.data_key(st, row.object);
            cx.client.get(&st.key, None).await
        }
        ReplayOp::RangedGet => {
            cx.data_key(st, row.object);
            // The range as logged, kept inside the object it maps onto.
            let size = cx.plan.object_size(row.object).max(1);
            let len = row.length.clamp(1, size);
            let off = row.offset.min(size - len);
            cx.client.get(&st.key, Some((off, off + len - 1))).await
        }
        ReplayOp::Head => {
            cx.data_key(st, row.object);
            cx.client.head(&st.key).await
        }
        ReplayOp::Put => {
            let key = cx.scratch_key(st);
            let out = cx.client.put(&key, row.length).await;
            if out.error.is_none() {
                st.wrote(key);
            }
            out
        }
        ReplayOp::MultipartPut => {
            let key = cx.scratch_key(st);
            let out = cx
                .client
                .multipart_put(&key, row.length, row.part_size)
                .await;
            if out.error.is_none() {
                st.wrote(key);
            }
            out
        }
        ReplayOp::Delete => {
            // A replay never deletes the data set (later reads need it): it
            // deletes what this worker wrote, or a key that is not there.
            let key = st
                .written
                .pop_front()
                .unwrap_or_else(|| format!("{}scratch/{}/absent", cx.run_prefix, st.id));
            cx.client.delete(&key).await
        }
        ReplayOp::List => {
            let (out, next) = cx
                .client
                .list(cx.run_prefix, 1000, false, st.list_token.take())
                .await;
            st.list_token = next;
            out
        }
        ReplayOp::Copy => {
            cx.data_key(st, row.object);
            st.put_seq += 1;
            let dst = format!("{}copy/{}/{:08}", cx.run_prefix, st.id, st.put_seq);
            cx.client.copy(&st.key, &dst).await
        }
    }
}
