//! Relay connections: a page of items, each with an opaque cursor, and where the page is.

use async_graphql::connection::PageInfo;

/// Declares a connection type and its edge type for one node type.
macro_rules! connection {
    ($connection:ident, $edge:ident, $node:ty, $connection_doc:literal, $edge_doc:literal) => {
        #[doc = $connection_doc]
        #[derive(async_graphql::SimpleObject)]
        pub struct $connection {
            /// The items of this page, each with its cursor.
            pub edges: Vec<$edge>,
            /// Whether more items follow, and the cursors at both ends of this page.
            pub page_info: async_graphql::connection::PageInfo,
        }

        #[doc = $edge_doc]
        #[derive(async_graphql::SimpleObject)]
        #[graphql(complex)]
        pub struct $edge {
            /// The item.
            pub node: $node,
            #[graphql(skip)]
            pub cursor: $crate::graphql::cursor::Lazy,
        }

        #[async_graphql::ComplexObject]
        impl $edge {
            /// Opaque cursor; pass it as `after` to get the items that follow this one.
            async fn cursor(&self) -> String {
                self.cursor.encode()
            }
        }

        impl $connection {
            /// A page of `(cursor, node)` pairs.
            pub fn new(
                items: impl IntoIterator<Item = ($crate::graphql::cursor::Lazy, $node)>,
                has_next_page: bool,
            ) -> Self {
                let edges: Vec<$edge> = items.into_iter().map(|(cursor, node)| $edge { node, cursor }).collect();
                let page_info = $crate::graphql::types::connection::page_info(
                    edges.first().map(|e| e.cursor.encode()),
                    edges.last().map(|e| e.cursor.encode()),
                    has_next_page,
                );
                Self { edges, page_info }
            }
        }
    };
}
pub(crate) use connection;

/// Page information for a forward-only page.
pub fn page_info(start_cursor: Option<String>, end_cursor: Option<String>, has_next_page: bool) -> PageInfo {
    PageInfo { has_previous_page: false, has_next_page, start_cursor, end_cursor }
}
