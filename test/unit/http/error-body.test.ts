import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseErrorFormat, renderErrorBody } from '../../../src/http/error-body.js';

const notFound = { status: 404, title: 'Not Found', explanation: 'No image found with ID 123', detail: '' };

describe('Glance error bodies (reference §1.4)', () => {
  it('chooses the format like WebOb', () => {
    assert.equal(chooseErrorFormat(undefined), 'plain');
    assert.equal(chooseErrorFormat('application/json'), 'json');
    assert.equal(chooseErrorFormat('*/*'), 'html');
    assert.equal(chooseErrorFormat('text/html'), 'html');
    assert.equal(chooseErrorFormat('application/octet-stream'), 'plain');
    assert.equal(chooseErrorFormat('text/html;q=0.5, application/json'), 'json');
  });

  it('renders plain text byte for byte', () => {
    assert.equal(renderErrorBody(notFound, undefined).body, '404 Not Found\n\nNo image found with ID 123\n\n   ');
    const forbidden = { status: 403, title: 'Forbidden', explanation: 'Access was denied to this resource.', detail: "Owner can't be updated by non admin." };
    assert.equal(renderErrorBody(forbidden, undefined).body, "403 Forbidden\n\nAccess was denied to this resource.\n\n Owner can't be updated by non admin.  ");
  });

  it('renders JSON with the status string as code', () => {
    const rendered = renderErrorBody(notFound, 'application/json');
    assert.equal(rendered.contentType, 'application/json');
    assert.deepEqual(JSON.parse(rendered.body), { message: 'No image found with ID 123<br /><br />\n\n\n', code: '404 Not Found', title: 'Not Found' });
  });

  it('renders HTML with the status as title', () => {
    assert.match(renderErrorBody(notFound, '*/*').body, /<title>404 Not Found<\/title>/);
  });
});
