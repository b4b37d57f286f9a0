import OrderPage from '@/components/OrderPage';

export default async function Page({ params }: { params: Promise<{ slug: string; id: string }> }) {
  const { slug, id } = await params;
  return <OrderPage slug={slug} id={id} />;
}
