// Creates the pull-request comment that carries `marker`, or updates it if an earlier
// run already posted one, so each PR has exactly one plan-diff comment.
// Called from actions/github-script in .github/workflows/plan.yml with its `github`
// (Octokit) and `context` objects.

/**
 * @param {{ github: any, context: any, marker: string, body: string }} args
 * @returns {Promise<{ action: "created" | "updated", id: number }>}
 */
async function upsertPrComment({ github, context, marker, body }) {
  if (!body.includes(marker)) {
    throw new Error(`comment body must contain the marker ${marker}, or the next run cannot find it`);
  }
  const { owner, repo } = context.repo;
  const issue_number = context.issue.number;
  const comments = await github.paginate(github.rest.issues.listComments, {
    owner,
    repo,
    issue_number,
    per_page: 100,
  });
  // Only our own bot's comments: a human quoting the marker must not be overwritten.
  const previous = comments.find((c) => c.user?.type === "Bot" && c.body?.includes(marker));
  if (previous) {
    await github.rest.issues.updateComment({ owner, repo, comment_id: previous.id, body });
    return { action: "updated", id: previous.id };
  }
  const { data } = await github.rest.issues.createComment({ owner, repo, issue_number, body });
  return { action: "created", id: data.id };
}

module.exports = { upsertPrComment };
