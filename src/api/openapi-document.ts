type Json = Record<string, unknown>;

/** An OpenAPI 3.1 document as plain JSON (a type, not an interface: it is a JSON object). */
export type OpenApiDocument = {
  openapi: '3.1.0';
  info: { title: string; version: string; description: string };
  servers: { url: string }[];
  paths: Record<string, Record<string, Json>>;
  components: { schemas: Record<string, Json>; securitySchemes: Record<string, Json> };
};
