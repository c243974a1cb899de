// Mounts GraphiQL against this server's /graphql (HTTP and graphql-transport-ws).
// `?query=...` in the page address pre-fills the editor.
(function () {
  var ws = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/graphql';
  var fetcher = GraphiQL.createFetcher({ url: location.origin + '/graphql', subscriptionUrl: ws });
  var params = new URLSearchParams(location.search);
  var props = { fetcher: fetcher, shouldPersistHeaders: true, defaultEditorToolsVisibility: 'headers' };
  if (params.get('query')) {
    props.query = params.get('query');
  }
  ReactDOM.createRoot(document.getElementById('graphiql')).render(React.createElement(GraphiQL, props));
})();
