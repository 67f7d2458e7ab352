// POST /api/admin/backups/upload: registers a Lifeboat archive made elsewhere, once all of it is validated.
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { describeBackup } from '../../services/backups.ts';
import { importUploadedArchive } from '../../services/upload.ts';
import { LifeboatError } from '../../domain/errors.ts';
import { storableText } from '../../domain/text.ts';
import { requireRole } from '../auth.ts';
import type { ApiDeps, AppEnv } from '../context.ts';
import { actionErrors, backupSchema, errorSchema, linksTo } from '../schemas.ts';
import { validationHook } from '../validation.ts';

const uploadQuery = z.object({
  target: storableText({ min: 1 })
    .optional()
    .openapi({ description: "Target id or name; default: the target named in the archive's manifest" }),
  displayName: storableText({ max: 200 }).optional(),
  sha256: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex digits')
    .transform((value) => value.toLowerCase())
    .optional()
    .openapi({ description: 'The sha256 the archive must have; refused with CHECKSUM_MISMATCH otherwise' }),
});

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: errorSchema } },
});

const uploadedSchema = backupSchema
  .extend({ manifest: z.unknown().nullable(), progress: z.null() })
  .openapi('UploadedBackup');

export function uploadRoutes(deps: ApiDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.openapi(
    createRoute({
      method: 'post',
      path: '/',
      operationId: 'uploadBackup',
      summary: 'Upload a Lifeboat archive made elsewhere and register it as a backup',
      description:
        'The body is the archive itself (.tar.zst, .tar.gz or .tar, unencrypted), streamed to a private staging ' +
        'directory. Its manifest, every checksum and every entry (no absolute paths, no "..", no links, ' +
        'size limits) are checked before anything is stored; it is then stored beside its sidecars, read ' +
        'back, and registered as a completed backup with trigger "upload".',
      middleware: [requireRole('admin')] as const,
      request: {
        query: uploadQuery,
        body: {
          required: true,
          content: { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } },
        },
      },
      responses: {
        201: {
          description: 'Registered; the backup as GET /api/admin/backups/{id} returns it',
          content: { 'application/json': { schema: uploadedSchema } },
          links: linksTo({
            getBackup: '$response.body#/id',
            previewRestore: '$response.body#/id',
            deleteBackup: '$response.body#/id',
          }),
        },
        ...actionErrors,
        422: errorResponse('The archive or one of its files does not match its checksum, or it is damaged'),
        503: errorResponse('The storage is unavailable or gave back different bytes'),
        507: errorResponse('Not enough space to stage the upload'),
      },
    }),
    async (c) => {
      const query = c.req.valid('query');
      if (/^multipart\/form-data/i.test(c.req.header('content-type') ?? '')) {
        throw new LifeboatError(
          'VALIDATION_FAILED',
          'Send the archive itself as the body (content-type: application/octet-stream), not as a form.',
        );
      }
      const body = c.req.raw.body;
      if (!body) throw new LifeboatError('VALIDATION_FAILED', 'The request body is empty.');
      const contentLength = Number(c.req.header('content-length'));
      const backup = await importUploadedArchive(
        deps,
        {
          body: Readable.fromWeb(body as NodeReadableStream<Uint8Array>),
          contentLengthBytes: Number.isSafeInteger(contentLength) ? contentLength : undefined,
          target: query.target,
          displayName: query.displayName,
          expectedSha256: query.sha256,
          requestedBy: c.get('identity')?.name ?? 'unknown',
        },
        deps.upload,
      );
      c.set('resourceId', backup.id);
      // Completed before the answer: no live progress to ask for.
      return c.json({ ...(await describeBackup(deps, backup.id)), progress: null }, 201);
    },
  );

  return app;
}
