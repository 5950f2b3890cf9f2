//! GraphQL over HTTP, as a dashboard or a script would send it.

use anyhow::{Context as _, bail};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde_json::{Value, json};

/// One server's GraphQL endpoint.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub endpoint: String,
}

impl Api {
    pub fn new(http: reqwest::Client, base: &str) -> Self {
        Self { http, endpoint: format!("{base}/graphql") }
    }

    /// Runs an operation and returns its `data`; any error fails the benchmark's setup.
    pub async fn data(&self, token: &str, query: &str, variables: Value) -> anyhow::Result<Value> {
        let body = json!({ "query": query, "variables": variables }).to_string();
        let response = self.send(token, body).await?;
        let status = response.status();
        let body: Value = response.json().await.context("a GraphQL response that is not JSON")?;
        if !status.is_success() || body.get("errors").is_some() {
            bail!("{query}: {status} {body}");
        }
        Ok(body["data"].clone())
    }

    /// Sends a prepared body; the load loops use this.
    pub async fn send(&self, token: &str, body: String) -> reqwest::Result<reqwest::Response> {
        self.http
            .post(&self.endpoint)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .body(body)
            .send()
            .await
    }

    /// Sends a prepared body and tells whether it succeeded without GraphQL errors.
    pub async fn succeeds(&self, token: &str, body: String) -> bool {
        match self.send(token, body).await {
            Ok(response) if response.status().is_success() => {
                response.bytes().await.is_ok_and(|bytes| !contains(&bytes, br#""errors""#))
            }
            _ => false,
        }
    }

    /// Ids of up to `count` leads matching `filter`, newest first.
    pub async fn lead_ids(&self, token: &str, filter: Value, count: usize) -> anyhow::Result<Vec<String>> {
        let query = "query($after: String, $filter: LeadFilter) {
            leads(first: 100, after: $after, filter: $filter) { edges { node { id } } pageInfo { hasNextPage endCursor } } }";
        let mut ids = Vec::new();
        let mut after = Value::Null;
        while ids.len() < count {
            let data = self.data(token, query, json!({ "after": after, "filter": filter })).await?;
            let leads = &data["leads"];
            ids.extend(
                leads["edges"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e["node"]["id"].as_str().map(str::to_owned)),
            );
            if leads["pageInfo"]["hasNextPage"] != true {
                break;
            }
            after = leads["pageInfo"]["endCursor"].clone();
        }
        ids.truncate(count);
        Ok(ids)
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}
